"""What a page shows of a month's warnings: stored findings only, never a computation."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet

from ..models import Anomaly, AnomalyKind, AnomalyRun, Municipality, Unit

# Kinds that belong to the whole municipality, not to one unit: left out when a unit is chosen.
MUNICIPALITY_WIDE = frozenset(
    {AnomalyKind.SERVICE_MOVED, AnomalyKind.SERVICE_VANISHED, AnomalyKind.SERVICE_APPEARED}
)


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    total: int
    open: int  # not acknowledged

    @property
    def acknowledged(self) -> int:
        return self.total - self.open


@dataclass
class Summary:
    period: str
    unit: Unit | None
    run: AnomalyRun | None
    counts: list[KindCount]  # in the order of `AnomalyKind`, kinds with findings only
    rows: QuerySet[Anomaly]  # the findings, lazily: a caller that shows only counts reads none

    @property
    def computed(self) -> bool:
        return self.run is not None and self.run.computed_at is not None

    @property
    def pending(self) -> bool:
        return self.run is not None and self.run.pending

    @property
    def total(self) -> int:
        return sum(c.total for c in self.counts)

    @property
    def open(self) -> int:
        return sum(c.open for c in self.counts)


def findings(
    municipality: Municipality, period: str, unit: Unit | None = None
) -> QuerySet[Anomaly]:
    rows = Anomaly.objects.filter(municipality=municipality, period=period)
    if unit is not None:
        rows = rows.filter(unit=unit)
    return rows.select_related(
        "payer", "service", "unit", "basis", "other_basis", "acknowledged_by"
    ).order_by("kind", F("acknowledged_at").asc(nulls_first=True), "id")  # open ones first


def for_period(municipality: Municipality, period: str, unit: Unit | None = None) -> Summary:
    """The month's warnings (of one unit, if given) with counts per kind; for the Kontrollrapport
    and the month overview. Two queries; the rows are read only if the caller iterates them."""
    run = AnomalyRun.objects.filter(municipality=municipality, period=period).first()
    rows = findings(municipality, period, unit)
    per_kind = {
        kind: (total, open_)
        for kind, total, open_ in rows.order_by()
        .values_list("kind")
        .annotate(total=Count("id"), open=Count("id", filter=Q(acknowledged_at__isnull=True)))
    }
    counts = [
        KindCount(kind.value, str(kind.label), *per_kind[kind.value])
        for kind in AnomalyKind
        if kind.value in per_kind
    ]
    return Summary(period=period, unit=unit, run=run, counts=counts, rows=rows)
