"""Demo kommune's export profile, set up by `manage.py seed_demo`."""

from __future__ import annotations

from invoices.models import Municipality

from .models import AgressoLayout, CustomerMode, ExportProfile, VismaLayout

DEMO_ORDER_SERIES = (380_000_000, 380_999_999)


def seed_demo(municipality: Municipality) -> str:
    """Create the profile once; an existing profile (maybe edited since) is left as it is."""
    start, end = DEMO_ORDER_SERIES
    profile, created = ExportProfile.objects.get_or_create(
        municipality=municipality,
        defaults={
            "visma_layout": VismaLayout.EXTENDED,
            "agresso_layout": AgressoLayout.CLASSIC,
            "agresso_client": "DK",
            "voucher_type": "FK",
            "order_type": "FS",
            "pay_method": "IP",
            "responsible": "FAKTURA",
            "responsible2": "FAKTURA",
            "batch_prefix": "AIDN",
            "order_id_start": start,
            "order_id_end": end,
            "order_id_next": start,
            "customer_mode": CustomerMode.ID_IN_TEXT,
            "dim_slots": ["ansvar", "tjeneste", "", "", "prosjekt", "", ""],
            "dim_required": [5],
        },
    )
    if created:
        profile.full_clean()
    return "export profile created" if created else "export profile kept"
