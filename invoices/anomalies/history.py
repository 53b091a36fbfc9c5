"""The figures the warnings compare: which earlier months count, and what each payer, unit and
service was billed in them.

A month's figures for a subject are (count of bases, net total in øre) over *every* basis of the
period whatever its status, invoices and credit notes alike (docs/anomalies.md, "Billed"). Units
and services come from the kept month totals (`UnitMonthTotal`, `ServiceMonthTotal`: a few rows a
month); payers from one grouped query over the bases of the months needed; the month itself is
read once, basis by basis, without its lines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db.models import BigIntegerField, Count, Q, Sum
from django.db.models.functions import Cast

from core.db import among, fetch_rows

from ..models import InvoiceBasis, ServiceMonthTotal, UnitMonthTotal

# How far back: "new" means none in the last 12 months with data; the medians use the last 3.
HISTORY_MONTHS = 12
MEDIAN_MONTHS = 3
CHUNK = 5000  # ids per query

Figures = tuple[int, int]  # bases, net total øre
ByMonth = dict[str, Figures]  # period → figures, only months in which the subject was billed


def months_with_data(municipality_id: int, period: str) -> list[str] | None:
    """The up to 12 latest periods before `period` in which the municipality has any basis,
    latest first; None if `period` itself has none (there is nothing to warn about)."""
    periods = list(
        UnitMonthTotal.objects.filter(municipality_id=municipality_id, period__lte=period)
        .order_by("-period")
        .values_list("period", flat=True)
        .distinct()[: HISTORY_MONTHS + 1]
    )
    if not periods or periods[0] != period:
        return None
    return periods[1:]


class MonthBasis(NamedTuple):
    """One basis of the month being checked (no lines). A tuple: the month has 20 000 of them."""

    id: int
    reference: str
    payer_id: int
    unit_id: int
    total_ore: int
    line_count: int
    status: str


@dataclass
class History:
    period: str
    months: list[str]  # the earlier months with data, latest first (≤ 12)
    bases: list[MonthBasis]
    payers: dict[int, ByMonth] = field(default_factory=dict)  # this month and the earlier ones
    units: dict[int, ByMonth] = field(default_factory=dict)
    services: dict[int, ByMonth] = field(default_factory=dict)
    services_ever: set[int] = field(default_factory=set)  # billed in any month before `period`

    @property
    def last3(self) -> list[str]:
        return self.months[:MEDIAN_MONTHS]


def load(municipality_id: int, period: str, months: list[str]) -> History:
    wanted = [period, *months]
    bases_qs = (
        InvoiceBasis.objects.filter(municipality_id=municipality_id, period=period)
        .order_by("id")
        .values_list(
            "id", "source_reference", "payer_id", "unit_id", "total_ore", "line_count", "status"
        )
    )
    history = History(
        period=period, months=months, bases=list(map(MonthBasis._make, fetch_rows(bases_qs)))
    )

    # Per payer and month: a grouped query over the bases of this month and the last three, and
    # only for this month's payers who lack one of those, another over the nine before
    # (docs/anomalies.md, "Cost"): most payers are billed every month.
    payers: dict[int, ByMonth] = defaultdict(dict)
    recent, older = wanted[: MEDIAN_MONTHS + 1], wanted[MEDIAN_MONTHS + 1 :]
    _recent_payer_months(payers, municipality_id, recent)
    last3 = recent[1:]
    sporadic = [
        payer_id
        for payer_id, by_month in payers.items()
        if period in by_month and sum(p in by_month for p in last3) < MEDIAN_MONTHS
    ]
    if sporadic and older:
        for start in range(0, len(sporadic), CHUNK):
            chunk = sporadic[start : start + CHUNK]
            _payer_months(payers, municipality_id, older, among("payer__id", chunk))
    history.payers = dict(payers)

    history.units = _by_month(UnitMonthTotal, "unit_id", municipality_id, wanted)
    history.services = _by_month(ServiceMonthTotal, "service_id", municipality_id, wanted)
    history.services_ever = set(
        ServiceMonthTotal.objects.filter(
            municipality_id=municipality_id, period__lt=period, bases__gt=0
        )
        .order_by()
        .values_list("service_id", flat=True)
        .distinct()
    )
    return history


def _recent_payer_months(
    into: dict[int, ByMonth], municipality_id: int, periods: list[str]
) -> None:
    """One row per payer with a (count, total) column pair per month: a quarter of the rows
    (payer, period) would give, grouped in one pass over the bases."""
    figures: dict[str, Any] = {}
    for i, p in enumerate(periods):
        figures[f"n{i}"] = Count("id", filter=Q(period=p))
        figures[f"t{i}"] = Cast(Sum("total_ore", filter=Q(period=p)), BigIntegerField())
    rows = (
        InvoiceBasis.objects.filter(municipality_id=municipality_id, period__in=periods)
        .order_by()
        .values("payer_id")
        .annotate(**figures)
        .values_list("payer_id", *figures)
    )
    for payer_id, *pairs in fetch_rows(rows):
        by_month = into[payer_id]
        for i, p in enumerate(periods):
            if pairs[2 * i]:
                by_month[p] = (pairs[2 * i], pairs[2 * i + 1] or 0)


def _payer_months(
    into: dict[int, ByMonth], municipality_id: int, periods: list[str], *where: Q
) -> None:
    rows = (
        InvoiceBasis.objects.filter(municipality_id=municipality_id, period__in=periods)
        .filter(*where)
        .order_by()
        .values_list("payer_id", "period")
        .annotate(n=Count("id"), total=Cast(Sum("total_ore"), BigIntegerField()))
    )
    for payer_id, p, n, total in fetch_rows(rows):
        into[payer_id][p] = (n, total or 0)


def _by_month(
    model: Any, key: str, municipality_id: int, periods: Sequence[str]
) -> dict[int, ByMonth]:
    """(bases, total øre) per `key` (unit or service) and month, from the month totals; months
    with no bases left out."""
    found: dict[int, ByMonth] = defaultdict(dict)
    for p, key_id, n, total in (
        model.objects.filter(municipality_id=municipality_id, period__in=periods)
        .order_by()
        .values_list("period", key)
        .annotate(n=Sum("bases"), total=Sum("total_ore"))
    ):
        if n:
            found[key_id][p] = (int(n), int(total or 0))
    return dict(found)
