"""The demo's channel parts, called by name: the project knows every app, the domain none."""

from __future__ import annotations

from exports import demo as exports_demo
from integrations import demo as integrations_demo
from invoices.models import Municipality


def seed_channels(municipality: Municipality) -> list[tuple[str, str]]:
    """Each channel's own part of the demo municipality; (app, what it did)."""
    return [
        ("exports", exports_demo.seed_demo(municipality)),
        ("integrations", integrations_demo.seed_demo(municipality)),
    ]
