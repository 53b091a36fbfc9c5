"""Helpers for the Visma integration tests: volume bases, and driving the worker in-process."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from integrations import delivery, selectors
from integrations.models import Transfer, TransferAttempt
from invoices import summaries
from invoices.models import BasisStatus, InvoiceBasis, InvoiceLine, Municipality, Service
from tests import factories


def bulk_bases(
    m: Municipality,
    n: int,
    *,
    period: str = "2026-10",
    status: BasisStatus = BasisStatus.APPROVED,
    service: Service | None = None,
    prefix: str = "BULK",
) -> list[int]:
    """`n` one-line bases with one payer, inserted in bulk (a few queries, not n × 6)."""
    unit = factories.unit(m)
    payer = factories.party(m)
    service = service or factories.service(m)
    bases = InvoiceBasis.objects.bulk_create(
        InvoiceBasis(
            municipality=m,
            unit=unit,
            period=period,
            payer=payer,
            recipient=payer,
            source_reference=f"{prefix}-{i:06d}",
            status=status,
            total_ore=86000,
            line_count=1,
            content_hash=hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest(),
        )
        for i in range(n)
    )
    ids = [b.pk for b in bases]
    if any(pk is None for pk in ids):  # pragma: no cover - backends without RETURNING
        ids = list(
            InvoiceBasis.objects.filter(
                municipality=m, source_reference__startswith=f"{prefix}-"
            ).values_list("pk", flat=True)
        )
    InvoiceLine.objects.bulk_create(
        (
            InvoiceLine(
                basis_id=pk,
                line_no=1,
                service=service,
                description="Praktisk bistand",
                quantity="4.00",
                unit_price_ore=21500,
                amount_ore=86000,
                texts=["4 timer praktisk bistand"],
                dimensions={"ansvar": "3100"},
            )
            for pk in ids
        ),
        batch_size=1000,
    )
    summaries.add(ids)
    return ids


def run_transfer(transfer: Transfer, *, rounds: int = 200, sweep: bool = False) -> Transfer:
    """Drive the worker loop in this process until the transfer is no longer active (what the
    scheduled wake-ups would do). Retry delays are near zero in these tests."""
    for i in range(rounds):
        if i:
            time.sleep(0.01)
        delivery.transfer_process(transfer.pk)
        if sweep:
            delivery.attempts_sweep()
        transfer.refresh_from_db()
        if not transfer.is_active:
            return transfer
    raise AssertionError(f"transfer {transfer.pk} still {transfer.status} after {rounds} rounds")


def states(transfer: Transfer) -> dict[str, int]:
    return selectors.transfer_counts(transfer)


def per_ref(stats: dict[str, Any], selskap: str = "1") -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = stats.get("per_referanse", {}).get(selskap, {})
    return result


def attempts_of(transfer: Transfer) -> list[TransferAttempt]:
    return list(transfer.attempts.order_by("id"))
