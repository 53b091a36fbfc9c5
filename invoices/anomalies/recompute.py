"""Computing a month's warnings and storing them: the only writer of `Anomaly` findings.

`refresh` computes every kind for one month and replaces the stored findings in one transaction:
a finding whose subject key still fires keeps its row (and so its acknowledgement) with the new
figures, one that no longer fires is removed, a new one is added. It runs in a Celery task
(`invoices.tasks.refresh_anomalies`), enqueued after a change has committed (`schedule_refresh`),
never on a page view.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.bulk import insert_rows
from core.db import among
from core.queue import enqueue

from ..models import Anomaly, AnomalyKind, AnomalyRun, InvoiceBasis, Municipality
from . import detect, duplicates, history
from .detect import Finding, Thresholds
from .thresholds import thresholds_for

REFRESH_TASK = "invoices.tasks.refresh_anomalies"


@dataclass
class Computed:
    months: list[str]  # the earlier months compared with, latest first
    findings: list[Finding]


def compute(municipality_id: int, period: str, limits: Thresholds) -> Computed:
    """Every warning of the month, computed from the month totals, the payers' month totals and
    the month's own bases and lines. A month without bases has none."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The duplicates' windowed count sorts the month's lines: in memory, not on disk.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
        months = history.months_with_data(municipality_id, period)
        if months is None:
            return Computed([], [])
        figures = history.load(municipality_id, period, months)
        findings = [
            *detect.payers(figures, limits),
            *duplicates.duplicates(municipality_id, figures),
            *detect.units(figures, limits),
            *detect.services(figures, limits),
            *detect.zero_amounts(figures),
        ]
        _last_bases(municipality_id, figures.last3, findings)
    return Computed(months, findings)


def _last_bases(municipality_id: int, months: list[str], findings: list[Finding]) -> None:
    """A missing payer's warning shows their last basis (and belongs to its unit)."""
    missing = {f.payer_id: f for f in findings if f.kind == AnomalyKind.PAYER_MISSING}
    if not missing:
        return
    rows = (
        InvoiceBasis.objects.filter(municipality_id=municipality_id, period__in=months)
        .filter(among("payer__id", list(missing)))
        .order_by("payer_id", "-period", "-id")
        .values_list("payer_id", "id", "source_reference", "period", "unit_id", "total_ore")
    )
    for payer_id, pk, ref, period, unit_id, total in rows:
        finding = missing[payer_id]
        if finding.basis_id is None:
            finding.basis_id, finding.unit_id = pk, unit_id
            finding.figures["last_basis"] = {"id": pk, "ref": ref, "period": period, "total": total}


# --- storing -------------------------------------------------------------------------------------

_LINKS = ("basis_id", "other_basis_id", "payer_id", "service_id", "unit_id")
_NEW_COLUMNS = (
    "municipality_id",
    "period",
    "kind",
    "subject_key",
    "figures",
    *_LINKS,
    "created_at",
    "updated_at",
    "acknowledged_note",
)


def refresh(municipality: Municipality, period: str) -> AnomalyRun:
    """Compute the month's warnings and store them, keeping acknowledgements (module doc)."""
    started = timezone.now()
    clock = time.perf_counter()
    computed = compute(municipality.pk, period, thresholds_for(municipality))
    with transaction.atomic():
        run = AnomalyRun.objects.select_for_update().get(pk=_run(municipality.pk, period).pk)
        if run.started_at is not None and run.started_at > started:
            return run  # a refresh that began later has already stored newer findings
        _store(municipality.pk, period, computed.findings)
        run.started_at = started
        run.computed_at = timezone.now()
        run.seconds = round(time.perf_counter() - clock, 3)
        run.findings = len(computed.findings)
        run.history = computed.months
        run.save()
    return run


def _run(municipality_id: int, period: str) -> AnomalyRun:
    try:
        with transaction.atomic():
            return AnomalyRun.objects.get_or_create(municipality_id=municipality_id, period=period)[
                0
            ]
    except IntegrityError:  # created at the same moment by another refresh
        return AnomalyRun.objects.get(municipality_id=municipality_id, period=period)


def _store(municipality_id: int, period: str, findings: list[Finding]) -> None:
    # What is stored, as plain values: a month may hold a thousand findings.
    stored = {
        (kind, key): (pk, figures, links)
        for pk, kind, key, figures, *links in Anomaly.objects.select_for_update()
        .filter(municipality_id=municipality_id, period=period)
        .values_list("pk", "kind", "subject_key", "figures", *_LINKS)
    }
    wanted = {(f.kind, f.subject_key): f for f in findings}
    gone = [row[0] for key, row in stored.items() if key not in wanted]
    if gone:
        Anomaly.objects.filter(pk__in=gone).delete()
    now = timezone.now()
    changed, new = [], []
    for key, finding in wanted.items():
        links = [getattr(finding, name) for name in _LINKS]
        row = stored.get(key)
        if row is None:
            new.append(
                (
                    municipality_id,
                    period,
                    str(finding.kind),
                    finding.subject_key,
                    json.dumps(finding.figures, ensure_ascii=False),
                    *links,
                    now,
                    now,
                    "",
                )
            )
        elif row[1] != finding.figures or list(row[2]) != links:
            changed.append(
                Anomaly(
                    pk=row[0],
                    figures=finding.figures,
                    updated_at=now,
                    **dict(zip(_LINKS, links, strict=True)),
                )
            )
    insert_rows(Anomaly, _NEW_COLUMNS, new)
    if changed:
        Anomaly.objects.bulk_update(changed, ["figures", *_LINKS, "updated_at"], batch_size=500)


# --- asking for a refresh ------------------------------------------------------------------------


def schedule_refresh(municipality_id: int, periods: Iterable[str]) -> None:
    """Call inside the transaction that changes bases of `periods`: once it commits, the months
    are marked as waiting and the refresh is enqueued. A failing broker never undoes the change
    (the month then says it waits, and the button asks again)."""
    wanted = sorted(set(periods))
    if wanted:
        transaction.on_commit(lambda: request_refresh(municipality_id, wanted), robust=True)


def request_refresh(municipality_id: int, periods: Sequence[str]) -> None:
    now = timezone.now()
    for period in periods:
        run = _run(municipality_id, period)
        AnomalyRun.objects.filter(pk=run.pk).update(requested_at=now)
    enqueue(REFRESH_TASK, municipality_id, list(periods), now.isoformat())


def refresh_requested(municipality_id: int, periods: Sequence[str], requested_at: str) -> int:
    """The task's work: refresh the changed months, and the later computed months whose history
    they are part of, unless a refresh that began after the request already covered them.
    Returns how many months were computed."""
    municipality = Municipality.objects.filter(pk=municipality_id).first()
    if municipality is None or not periods:
        return 0
    asked = datetime.datetime.fromisoformat(requested_at)
    done = 0
    for period in _affected(municipality_id, periods):
        run = AnomalyRun.objects.filter(municipality_id=municipality_id, period=period).first()
        if run is not None and run.started_at is not None and run.started_at >= asked:
            continue
        refresh(municipality, period)
        done += 1
    return done


def _affected(municipality_id: int, periods: Sequence[str]) -> list[str]:
    """The periods themselves, and every later month already computed whose 12 earlier months
    include (or, with a month newly given data, would now include) one of them."""
    earliest = min(periods)
    out = set(periods)
    for period, months in AnomalyRun.objects.filter(
        municipality_id=municipality_id, period__gt=earliest, computed_at__isnull=False
    ).values_list("period", "history"):
        for changed in periods:
            if changed < period and (
                changed in months or len(months) < history.HISTORY_MONTHS or changed > min(months)
            ):
                out.add(period)
    return sorted(out)
