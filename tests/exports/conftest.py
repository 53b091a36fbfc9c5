"""Fixtures for the export tests: files go to a temporary MEDIA_ROOT, profiles per format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exports.models import CustomerMode, ExportProfile
from invoices.models import Municipality, TransferRoute
from tests import factories


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    # Personas are created per test; the production hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return root


@pytest.fixture
def visma_profile(kommune_a: Municipality) -> ExportProfile:
    factories.accounting(
        kommune_a,
        transfer_route=TransferRoute.VISMA_FILE,
        default_oppdragsgiver="013",
        kb_slots=["ansvar", "tjeneste", "prosjekt", "", "", "", "", "", "", ""],
    )
    profile, _ = ExportProfile.objects.get_or_create(municipality=kommune_a)
    return profile


@pytest.fixture
def agresso_profile(kommune_a: Municipality) -> ExportProfile:
    factories.accounting(kommune_a, transfer_route=TransferRoute.AGRESSO_FILE)
    profile, _ = ExportProfile.objects.update_or_create(
        municipality=kommune_a,
        defaults={
            "agresso_client": "DK",
            "voucher_type": "FK",
            "order_type": "FS",
            "pay_method": "IP",
            "responsible": "FAKTURA",
            "responsible2": "FAKTURA",
            "batch_prefix": "AIDN",
            "order_id_start": 380_000_000,
            "order_id_end": 380_999_999,
            "order_id_next": 380_000_000,
            "customer_mode": CustomerMode.ID_IN_TEXT,
            "dim_slots": ["ansvar", "tjeneste", "", "", "prosjekt", "", ""],
            "dim_required": [],
        },
    )
    return profile
