"""A credit note from the care system that, with the original's other credit notes, credits more
than the original was billed is a warning in the Kontrollrapport (it never blocks: the intake
accepts such notes, and the clerk decides)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from invoices.models import BasisKind, BasisStatus, InvoiceBasis, Municipality
from invoices.validation import validate_stored
from tests import factories

pytestmark = pytest.mark.django_db


def _credit(m: Municipality, original: InvoiceBasis, quantity: str, ref: str) -> InvoiceBasis:
    return factories.basis(
        m,
        kind=BasisKind.CREDIT,
        credits=original,
        payer=original.payer,
        status=BasisStatus.RECEIVED,
        source_reference=ref,
        lines=[{"quantity": quantity, "unit_price_ore": 21500}],
    )


def test_credit_notes_beyond_the_original_are_a_warning(kommune_a: Municipality) -> None:
    # 4 × 215,00 kr = 860,00 kr billed in September, sent.
    original = factories.basis(
        kommune_a, status=BasisStatus.SENT, period="2026-09", source_reference="HT-ORIG"
    )
    first = _credit(kommune_a, original, "-3.00", "HT-K1")  # 645,00 kr: fine on its own
    second = _credit(kommune_a, original, "-2.00", "HT-K2")  # 430,00 kr more: 215,00 kr too much
    fine = factories.basis(kommune_a, status=BasisStatus.SENT, period="2026-09")
    within = _credit(kommune_a, fine, "-4.00", "HT-K3")  # exactly the original: no warning

    reports = validate_stored(
        kommune_a, InvoiceBasis.objects.filter(period="2026-10", municipality=kommune_a)
    )

    for note in (first, second):
        (issue,) = reports[note.pk].issues
        assert (issue.code, issue.severity, issue.field) == ("over_credited", "warning", "credits")
        assert issue.message == (
            "Kreditnotaene til originalen krediterer til sammen 215,00\u00a0kr mer enn den var på"
        )
        assert not reports[note.pk].blocking
    assert reports[within.pk].issues == []


def test_the_report_names_the_warning_in_words(
    client: Client, kommune_a: Municipality, merkantil_a: Any
) -> None:
    original = factories.basis(kommune_a, status=BasisStatus.SENT, period="2026-09")
    _credit(kommune_a, original, "-5.00", "HT-FOR-MYE")
    client.force_login(merkantil_a)
    page = client.get(
        reverse("invoices:validation_report"), {"period": "2026-10", "vis": "alle"}
    ).content.decode()
    assert "Krediterer mer enn det som ble fakturert" in page
    assert "HT-FOR-MYE" in page and "215,00\u00a0kr mer enn den var på" in page
