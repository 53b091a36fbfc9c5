"""Demo data: Demo kommune talks to the local Visma simulator (`manage.py run_visma_simulator`)."""

from __future__ import annotations

from django.conf import settings

from invoices.models import Municipality

from .models import VismaSettings

DEMO_SELSKAP = "1"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-visma-2026"  # noqa: S105 - the simulator's published demo credentials


def seed_demo(municipality: Municipality) -> str:
    """Point the municipality at the simulator, enabled. Existing settings are left as they are,
    so running the seeder again never undoes an administrator's changes."""
    if VismaSettings.objects.filter(municipality=municipality).exists():
        return "Visma settings kept"
    obj = VismaSettings(
        municipality=municipality,
        selskap=DEMO_SELSKAP,
        base_url=f"http://127.0.0.1:{settings.VISMA_SIMULATOR_PORT}/fakturering_ws/",
        username=DEMO_USERNAME,
        enabled=True,
    )
    obj.set_password(DEMO_PASSWORD)
    obj.save()
    return "Visma settings created (local simulator)"
