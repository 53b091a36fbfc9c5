"""Months of history built with the factories: one payer, one amount, one basis at a time.

Every national id is synthetic (Tenor style, month + 80)."""

from __future__ import annotations

from typing import Any

from invoices import anomalies
from invoices.anomalies.recompute import compute
from invoices.models import (
    Anomaly,
    BasisStatus,
    InvoiceBasis,
    Municipality,
    Party,
    Service,
    Unit,
)
from tests import factories

PERIOD = "2026-10"
# The three months before PERIOD, latest first.
LAST3 = ["2026-09", "2026-08", "2026-07"]
# Synthetic payers (spec/identifiers.md and the demo generator's Tenor-style ids).
IDS = ("15899010059", "14819010170", "55899010042", "15899010067")


def kr(amount: float) -> int:
    return round(amount * 100)


def payer(m: Municipality, n: int, name: str | None = None) -> Party:
    return factories.party(m, IDS[n], name=name or f"Betaler {n}")


def bill(
    m: Municipality,
    period: str,
    who: Party,
    amount_ore: int,
    *,
    service: Service | None = None,
    unit_obj: Unit | None = None,
    status: BasisStatus = BasisStatus.EXPORTED,
    **line: Any,
) -> InvoiceBasis:
    """One basis of one line: quantity 1 at `amount_ore`."""
    spec: dict[str, Any] = {"quantity": "1", "unit_price_ore": amount_ore, **line}
    if service is not None:
        spec["service"] = service
    return factories.basis(
        m, period=period, payer=who, lines=[spec], status=status, unit_obj=unit_obj
    )


def filler(m: Municipality, periods: list[str], amount_kr: float = 20_000) -> None:
    """Data in each period (a payer of its own, billed the same every month), so the month counts
    as a month with data; large enough that one payer's change does not move the unit's or the
    service's month total beyond the thresholds."""
    regular = factories.party(m, org_number=factories.ORGNR, name="Fast fyll AS")
    for period in periods:
        bill(m, period, regular, kr(amount_kr))


def kinds(m: Municipality, period: str = PERIOD) -> list[tuple[str, str]]:
    """The findings `compute` gives now, as (kind, subject key), sorted."""
    found = compute(m.pk, period, anomalies.thresholds_for(m)).findings
    return sorted((str(f.kind), f.subject_key) for f in found)


def of_kind(m: Municipality, kind: str, period: str = PERIOD) -> list[Any]:
    return [
        f for f in compute(m.pk, period, anomalies.thresholds_for(m)).findings if f.kind == kind
    ]


def stored(m: Municipality, period: str = PERIOD, *only: str) -> list[tuple[str, str]]:
    """The stored findings as (kind, subject key), sorted; of the kinds `only` if given."""
    rows = Anomaly.objects.filter(municipality=m, period=period)
    if only:
        rows = rows.filter(kind__in=only)
    return sorted(rows.values_list("kind", "subject_key"))
