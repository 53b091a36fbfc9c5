"""The demo's parts that need more than the domain: each channel's set-up, and the history months
exported through the file channel. The project knows every app; the domain knows none."""

from __future__ import annotations

from typing import Any

from exports import demo as exports_demo
from exports.run import export_run
from exports.services import export_create
from integrations import demo as integrations_demo
from invoices import anomalies, demo_history, periods
from invoices.demo_data import LoadTotals, load_month
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from invoices.services import invoice_basis_approve


def seed_channels(municipality: Municipality) -> list[tuple[str, str]]:
    """Each channel's own part of the demo municipality; (app, what it did)."""
    return [
        ("exports", exports_demo.seed_demo(municipality)),
        ("integrations", integrations_demo.seed_demo(municipality)),
    ]


def seed_months(
    municipality: Municipality, size: str, *, seed: int, period: str, months: int, actor: Any
) -> dict[str, LoadTotals]:
    """`months` months ending with `period`: the ones before it approved and exported to a Visma
    file (the history the overview's trend and the anomaly warnings compare with), `period`
    itself open, with planted anomalies and a few validation errors when there is history."""
    loaded: dict[str, LoadTotals] = {}
    if months <= 1:
        loaded[period] = load_month(municipality, size, seed=seed, period=period, actor=actor)
        return loaded
    demo_history.ensure_extra_services(municipality)
    for past in periods.last(periods.shift(period, -1), months - 1):
        loaded[past] = load_month(
            municipality, size, seed=seed, period=past, actor=actor, steady=True
        )
        received = InvoiceBasis.objects.filter(
            municipality=municipality, period=past, status=BasisStatus.RECEIVED
        )
        invoice_basis_approve(received, actor)
        export = export_create(municipality, period=past, fmt="visma", actor=actor, enqueue=False)
        export_run(export.pk)
    loaded[period] = load_month(
        municipality,
        size,
        seed=seed,
        period=period,
        actor=actor,
        bases=demo_history.planted_month(size, seed=seed, period=period),
    )
    demo_history.end_the_ending_service(municipality, period)
    # The warnings are there on the first login: computed now, in the seeding transaction, rather
    # than by the task the intake asked for (which finds them computed and has nothing to do).
    anomalies.refresh(municipality, period)
    return loaded
