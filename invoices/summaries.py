"""The month's totals (`UnitMonthTotal`, `ServiceMonthTotal`), kept up to date as bases change.

Every write that adds, removes or moves bases measures the bases it touches (two grouped queries,
whatever their number) and adds or subtracts that measure under their status: intake adds what it
stores and subtracts what it replaces, deletion subtracts, a status transition subtracts under the
old status and adds under the new one. The cost is that of the bases changed, never that of the
month, so the overview reads a few dozen rows for a month of 20 000 bases.

`rebuild` recomputes a month from its rows (the data migration, tests and benchmarks that insert
bases behind the services' back), and `drift` compares the kept totals with a recomputation — the
tests hold every write path to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Sum

from core.db import among

from .models import InvoiceBasis, InvoiceLine, ServiceMonthTotal, UnitMonthTotal

# Ids per grouped query: bounded, so every database's parameter limit holds.
CHUNK = 5000

UnitKey = tuple[int, str, int, str]  # municipality, period, unit, status
ServiceKey = tuple[int, str, int, int, str]  # municipality, period, unit, service, status
Figures = tuple[int, int, int]  # bases, lines, total øre


@dataclass
class Measure:
    """What a set of bases adds to the month totals, under the status each is in."""

    units: dict[UnitKey, Figures]
    services: dict[ServiceKey, Figures]

    def months(self) -> set[tuple[int, str]]:
        return {(k[0], k[1]) for k in self.units} | {(k[0], k[1]) for k in self.services}


def _plus(a: Figures | None, b: Figures) -> Figures:
    return b if a is None else (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def measure(ids: Sequence[int]) -> Measure:
    """Group the given bases (and their lines) by month, unit, service and status."""
    units: dict[UnitKey, Figures] = {}
    services: dict[ServiceKey, Figures] = {}
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for m, period, unit, status, n, lines, total in (
            InvoiceBasis.objects.filter(among("id", chunk))
            .order_by()
            .values_list("municipality_id", "period", "unit_id", "status")
            .annotate(n=Count("id"), n_lines=Sum("line_count"), total=Sum("total_ore"))
        ):
            key = (m, period, unit, status)
            units[key] = _plus(units.get(key), (n, lines or 0, total or 0))
        for m, period, unit, service, status, n, lines, total in (
            InvoiceLine.objects.filter(among("basis__id", chunk))
            .order_by()
            .values_list(
                "basis__municipality_id",
                "basis__period",
                "basis__unit_id",
                "service_id",
                "basis__status",
            )
            .annotate(
                n=Count("basis_id", distinct=True), n_lines=Count("id"), total=Sum("amount_ore")
            )
        ):
            skey = (m, period, unit, service, status)
            services[skey] = _plus(services.get(skey), (n, lines, total or 0))
    return Measure(units, services)


def apply(found: Measure, sign: int, *, status: str | None = None) -> None:
    """Add (`sign` 1) or subtract (-1) a measure, under each basis's status or under `status`."""
    unit_rows = _rows(found.units, sign, status)
    service_rows = _rows(found.services, sign, status)
    _upsert(UnitMonthTotal, ("municipality_id", "period", "unit_id", "status"), unit_rows)
    _upsert(
        ServiceMonthTotal,
        ("municipality_id", "period", "unit_id", "service_id", "status"),
        service_rows,
    )
    if sign < 0:
        _drop_empty(found.months())


def add(ids: Sequence[int]) -> None:
    """The bases are new (or new again): count them in."""
    apply(measure(ids), 1)


def remove(ids: Sequence[int]) -> None:
    """The bases are about to be deleted or replaced: count them out."""
    apply(measure(ids), -1)


def _rows(figures: dict[Any, Figures], sign: int, status: str | None) -> list[tuple[Any, ...]]:
    rows = []
    for key, (n, lines, total) in figures.items():
        head = key if status is None else (*key[:-1], status)
        rows.append((*head, sign * n, sign * lines, sign * total))
    return rows


def _upsert(model: Any, key: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [*key, "bases", "lines", "total_ore"]
    names = ", ".join(quote(c) for c in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    conflict = ", ".join(quote(c) for c in key)
    added = ", ".join(
        f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}"
        for c in ("bases", "lines", "total_ore")
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({placeholders}) "  # noqa: S608 - quoted names
            f"ON CONFLICT ({conflict}) DO UPDATE SET {added}",
            rows,
        )


def _drop_empty(months: Iterable[tuple[int, str]]) -> None:
    for municipality_id, period in months:
        for model in (UnitMonthTotal, ServiceMonthTotal):
            model.objects.filter(
                municipality_id=municipality_id, period=period, bases__lte=0
            ).delete()


# --- recomputing -------------------------------------------------------------------------------


def recompute(municipality_id: int, period: str) -> Measure:
    """A month's totals from its rows, as the kept totals should be."""
    ids = list(
        InvoiceBasis.objects.filter(municipality_id=municipality_id, period=period).values_list(
            "pk", flat=True
        )
    )
    return measure(ids)


def kept(municipality_id: int, period: str) -> Measure:
    units = {
        (m, p, u, s): (n, lines, total)
        for m, p, u, s, n, lines, total in UnitMonthTotal.objects.filter(
            municipality_id=municipality_id, period=period
        ).values_list(
            "municipality_id", "period", "unit_id", "status", "bases", "lines", "total_ore"
        )
    }
    services = {
        (m, p, u, svc, s): (n, lines, total)
        for m, p, u, svc, s, n, lines, total in ServiceMonthTotal.objects.filter(
            municipality_id=municipality_id, period=period
        ).values_list(
            "municipality_id",
            "period",
            "unit_id",
            "service_id",
            "status",
            "bases",
            "lines",
            "total_ore",
        )
    }
    return Measure(units, services)


def drift(municipality_id: int, period: str) -> dict[str, Any]:
    """What the kept totals of a month get wrong (empty when they are right)."""
    want, have = recompute(municipality_id, period), kept(municipality_id, period)
    out: dict[str, Any] = {}
    for grain in ("units", "services"):
        w, h = getattr(want, grain), getattr(have, grain)
        wrong = {k: (h.get(k), w.get(k)) for k in set(w) | set(h) if h.get(k) != w.get(k)}
        if wrong:
            out[grain] = wrong
    return out


def rebuild(municipality_id: int, period: str | None = None) -> None:
    """Recompute the kept totals of one month (or all months) of a municipality from its rows."""
    periods = (
        [period]
        if period is not None
        else list(
            InvoiceBasis.objects.filter(municipality_id=municipality_id)
            .order_by()
            .values_list("period", flat=True)
            .distinct()
        )
    )
    for model in (UnitMonthTotal, ServiceMonthTotal):
        stale = model.objects.filter(municipality_id=municipality_id)
        (stale if period is None else stale.filter(period=period)).delete()
    for p in periods:
        apply(recompute(municipality_id, p), 1)
