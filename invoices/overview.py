"""The month at a glance (*Oversikt*): what the month holds per status, service and unit, how it
compares with last month, and thirteen months of trend.

Everything here is read from the month totals (`UnitMonthTotal`, `ServiceMonthTotal`), a few dozen
rows whatever the size of the month, in a fixed number of queries: the page costs the same for a
municipality of 5 000 inhabitants as for Oslo.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import periods
from .models import (
    BasisStatus,
    Municipality,
    ServiceMonthTotal,
    Unit,
    UnitMonthTotal,
)

TREND_MONTHS = 13  # this month and a year back, so a month can be compared with the same last year


@dataclass
class Figures:
    bases: int = 0
    lines: int = 0
    total_ore: int = 0

    def add(self, bases: int, lines: int, total_ore: int) -> None:
        self.bases += bases
        self.lines += lines
        self.total_ore += total_ore


@dataclass
class Row:
    """One unit or service: this month against last month."""

    key: int
    code: str
    name: str
    now: Figures = field(default_factory=Figures)
    before: Figures = field(default_factory=Figures)

    @property
    def change_ore(self) -> int:
        return self.now.total_ore - self.before.total_ore

    @property
    def change_bases(self) -> int:
        return self.now.bases - self.before.bases

    @property
    def change_percent(self) -> int | None:
        """Change of the total in whole percent; None when there was nothing last month."""
        if not self.before.total_ore:
            return None
        return round(100 * self.change_ore / abs(self.before.total_ore))


@dataclass
class Overview:
    period: str
    previous: str
    unit: Unit | None
    by_status: list[tuple[BasisStatus, Figures]]
    total: Figures
    services: list[Row]
    units: list[Row]
    trend: list[tuple[str, Figures]]

    @property
    def empty(self) -> bool:
        return self.total.bases == 0

    def count(self, status: BasisStatus) -> int:
        return next((f.bases for s, f in self.by_status if s == status), 0)


def month_overview(municipality: Municipality, period: str, unit: Unit | None = None) -> Overview:
    previous = periods.shift(period, -1)
    months = periods.last(period, TREND_MONTHS)
    unit_rows = UnitMonthTotal.objects.filter(
        municipality=municipality, period__in=months
    ).select_related("unit")
    service_rows = ServiceMonthTotal.objects.filter(
        municipality=municipality, period__in=[previous, period]
    ).select_related("service")
    if unit is not None:
        unit_rows = unit_rows.filter(unit=unit)
        service_rows = service_rows.filter(unit=unit)

    by_status: dict[str, Figures] = defaultdict(Figures)
    trend: dict[str, Figures] = {p: Figures() for p in months}
    units: dict[int, Row] = {}
    for r in unit_rows:
        trend[r.period].add(r.bases, r.lines, r.total_ore)
        if r.period == period:
            by_status[r.status].add(r.bases, r.lines, r.total_ore)
        if r.period in (period, previous):
            row = units.setdefault(r.unit_id, Row(r.unit_id, r.unit.code, r.unit.name))
            (row.now if r.period == period else row.before).add(r.bases, r.lines, r.total_ore)
    services: dict[int, Row] = {}
    for s in service_rows:
        row = services.setdefault(s.service_id, Row(s.service_id, s.service.code, s.service.name))
        (row.now if s.period == period else row.before).add(s.bases, s.lines, s.total_ore)

    total = Figures()
    for figures in by_status.values():
        total.add(figures.bases, figures.lines, figures.total_ore)
    return Overview(
        period=period,
        previous=previous,
        unit=unit,
        by_status=[(status, by_status.get(status.value, Figures())) for status in BasisStatus],
        total=total,
        services=_ordered(services.values()),
        units=_ordered(units.values()),
        trend=list(trend.items()),
    )


def _ordered(rows: Iterable[Row]) -> list[Row]:
    """Largest this month first, then what only last month had."""
    return sorted(rows, key=lambda r: (-r.now.total_ore, -r.before.total_ore, r.code))


def latest_period(municipality: Municipality) -> str:
    """The newest period the municipality has bases in (from the totals), or ""."""
    return (
        UnitMonthTotal.objects.filter(municipality=municipality)
        .order_by("-period")
        .values_list("period", flat=True)
        .first()
        or ""
    )


def known_periods(municipality: Municipality, limit: int = 36) -> list[str]:
    return list(
        UnitMonthTotal.objects.filter(municipality=municipality)
        .order_by("-period")
        .values_list("period", flat=True)
        .distinct()[:limit]
    )
