"""Reads for the Visma pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from invoices.models import BasisStatus, InvoiceBasis, Municipality

from .models import BasisVismaStatus, Transfer


def sendable_bases(municipality: Municipality, period: str) -> Any:
    """Approved bases of the period: what *Send til Visma* would carry."""
    return InvoiceBasis.objects.filter(
        municipality=municipality, period=period, status=BasisStatus.APPROVED
    )


def transfer_counts(transfer: Transfer) -> dict[str, int]:
    """Attempts per state right now (the progress bar)."""
    return dict(
        transfer.attempts.order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )


def search_bases(municipality: Municipality, term: str) -> Any:
    """The bases Visma knows by this invoice number or KID (the list's search)."""
    return (
        BasisVismaStatus.objects.filter(basis__municipality=municipality)
        .filter(Q(fakturanummer=term) | Q(kid=term))
        .values("basis_id")
    )
