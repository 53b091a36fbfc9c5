"""The kinds of warning, each a plain function over the month's figures (docs/anomalies.md).

Every function takes a `History` (what `history.load` read) and the thresholds, and returns
`Finding`s. Nothing here touches the database; duplicates, which need the month's lines, are in
`duplicates.py`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..models import AnomalyKind
from .history import MEDIAN_MONTHS, ByMonth, History, MonthBasis

KEY_LENGTH = 200
# A finding lists at most this many bases or lines; the count says how many there were.
LISTED = 10


@dataclass(frozen=True)
class Thresholds:
    """Beyond means beyond both: the share of the median and the amount (counts: the number).

    Medians are passed doubled (`twice_median`), so a median of two months (half an øre) is
    compared exactly, in whole numbers."""

    share_percent: int
    amount_ore: int
    count: int

    def amount_beyond(self, now: int, median2: int) -> bool:
        return _beyond(now, median2, self.share_percent, self.amount_ore)

    def count_beyond(self, now: int, median2: int) -> bool:
        return _beyond(now, median2, self.share_percent, self.count)


def _beyond(now: int, median2: int, share_percent: int, absolute: int) -> bool:
    """|now − median| > absolute and > share % of |median|, all doubled to stay whole."""
    diff2 = abs(2 * now - median2)
    return diff2 > 2 * absolute and diff2 * 100 > share_percent * abs(median2)


@dataclass
class Finding:
    kind: str
    subject_key: str
    figures: dict[str, Any]
    basis_id: int | None = None
    other_basis_id: int | None = None
    payer_id: int | None = None
    service_id: int | None = None
    unit_id: int | None = None


def subject_key(prefix: str, parts: Iterable[object]) -> str:
    """`prefix:part|part…`, or the prefix and a SHA-256 of that when it would be too long: the
    same subject always gives the same key."""
    key = f"{prefix}:" + "|".join(str(p) for p in parts)
    if len(key) <= KEY_LENGTH:
        return key
    return f"{prefix}#" + hashlib.sha256(key.encode()).hexdigest()


def twice_median(values: list[int]) -> int:
    """Twice the median: the middle value doubled, or the sum of the two middle ones."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return 2 * ordered[middle]
    return ordered[middle - 1] + ordered[middle]


def whole(median2: int) -> int:
    """A doubled median for display: whole øre (or bases), half away from zero."""
    return int((Decimal(median2) / 2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _billed_before(by_month: ByMonth, months: list[str], limit: int) -> list[str]:
    """The subject's own latest `limit` billed months among `months` (latest first)."""
    head = months[:limit]
    if len(head) == limit and all(p in by_month for p in head):
        return head  # the usual case: billed every month
    return [p for p in months if p in by_month][:limit]


def _basis_brief(basis: MonthBasis) -> dict[str, Any]:
    return {"id": basis.id, "ref": basis.reference, "total": basis.total_ore}


def _bases_by_payer(history: History) -> dict[int, list[MonthBasis]]:
    out: dict[int, list[MonthBasis]] = defaultdict(list)
    for basis in history.bases:
        out[basis.payer_id].append(basis)
    return out


def _main_unit(bases: list[MonthBasis]) -> int:
    """The unit that holds most of the amount (then most bases): where a payer's warning shows
    when the report is filtered by unit."""
    weight: dict[int, tuple[int, int]] = {}
    for b in bases:
        amount, count = weight.get(b.unit_id, (0, 0))
        weight[b.unit_id] = (amount + abs(b.total_ore), count + 1)
    return max(sorted(weight), key=lambda unit: weight[unit])


# --- payers ------------------------------------------------------------------------------------


def payers(history: History, limits: Thresholds) -> list[Finding]:
    """Far off, new, and (for the regular ones not here) missing."""
    if not history.months:
        return []
    findings: list[Finding] = []
    bases_of = _bases_by_payer(history)
    period = history.period
    months, known = history.months, history.payers
    for payer_id, bases in bases_of.items():
        by_month = known.get(payer_id, {})
        count, total = by_month.get(period) or (len(bases), sum(b.total_ore for b in bases))
        earlier = _billed_before(by_month, months, MEDIAN_MONTHS)
        if not earlier:
            findings.append(
                Finding(
                    AnomalyKind.PAYER_NEW,
                    subject_key("payer", [payer_id]),
                    {
                        "count": count,
                        "total": total,
                        "bases": [_basis_brief(b) for b in bases[:LISTED]],
                    },
                    basis_id=bases[0].id,
                    payer_id=payer_id,
                    unit_id=_main_unit(bases),
                )
            )
            continue
        middle = twice_median([by_month[p][1] for p in earlier])
        if limits.amount_beyond(total, middle):
            findings.append(
                Finding(
                    AnomalyKind.PAYER_FAR_OFF,
                    subject_key("payer", [payer_id]),
                    {
                        "total": total,
                        "count": count,
                        "median": whole(middle),
                        "months": [[p, by_month[p][0], by_month[p][1]] for p in earlier],
                        "bases": [_basis_brief(b) for b in bases[:LISTED]],
                    },
                    basis_id=bases[0].id,
                    payer_id=payer_id,
                    unit_id=_main_unit(bases),
                )
            )
    findings.extend(_missing_payers(history, set(bases_of)))
    return findings


def _missing_payers(history: History, present: set[int]) -> list[Finding]:
    last3 = history.last3
    if len(last3) < MEDIAN_MONTHS:
        return []
    findings = []
    for payer_id, by_month in history.payers.items():
        if payer_id in present or not all(p in by_month for p in last3):
            continue
        findings.append(
            Finding(
                AnomalyKind.PAYER_MISSING,
                subject_key("payer", [payer_id]),
                {"months": [[p, by_month[p][0], by_month[p][1]] for p in last3]},
                payer_id=payer_id,
            )
        )
    return findings


# --- units and services --------------------------------------------------------------------------


def _moved(
    kind: str, prefix: str, figures: dict[int, ByMonth], history: History, limits: Thresholds
) -> list[Finding]:
    findings = []
    for subject_id, by_month in sorted(figures.items()):
        earlier = _billed_before(by_month, history.months, MEDIAN_MONTHS)
        if not earlier:
            continue  # new: nothing to compare with
        count, total = by_month.get(history.period, (0, 0))
        count_median = twice_median([by_month[p][0] for p in earlier])
        total_median = twice_median([by_month[p][1] for p in earlier])
        which = []
        if limits.count_beyond(count, count_median):
            which.append("count")
        if limits.amount_beyond(total, total_median):
            which.append("total")
        if not which:
            continue
        finding = Finding(
            kind,
            subject_key(prefix, [subject_id]),
            {
                "count": count,
                "total": total,
                "count_median": whole(count_median),
                "total_median": whole(total_median),
                "which": which,
                "months": [[p, by_month[p][0], by_month[p][1]] for p in earlier],
            },
        )
        if prefix == "unit":
            finding.unit_id = subject_id
        else:
            finding.service_id = subject_id
        findings.append(finding)
    return findings


def units(history: History, limits: Thresholds) -> list[Finding]:
    return _moved(AnomalyKind.UNIT_MOVED, "unit", history.units, history, limits)


def services(history: History, limits: Thresholds) -> list[Finding]:
    """Vanished, appeared, and moved (a vanished service is not also reported as moved)."""
    if not history.months:
        return []
    findings: list[Finding] = []
    period, last3 = history.period, history.last3
    vanished: set[int] = set()
    for service_id, by_month in sorted(history.services.items()):
        now = by_month.get(period)
        if now is None:
            if len(last3) == MEDIAN_MONTHS and all(p in by_month for p in last3):
                vanished.add(service_id)
                findings.append(
                    Finding(
                        AnomalyKind.SERVICE_VANISHED,
                        subject_key("service", [service_id]),
                        {"months": [[p, by_month[p][0], by_month[p][1]] for p in last3]},
                        service_id=service_id,
                    )
                )
        elif service_id not in history.services_ever:
            findings.append(
                Finding(
                    AnomalyKind.SERVICE_APPEARED,
                    subject_key("service", [service_id]),
                    {"count": now[0], "total": now[1]},
                    service_id=service_id,
                )
            )
    moved = _moved(AnomalyKind.SERVICE_MOVED, "service", history.services, history, limits)
    findings.extend(f for f in moved if f.service_id not in vanished)
    return findings


# --- zero amounts --------------------------------------------------------------------------------


def zero_amounts(history: History) -> list[Finding]:
    """The validation report's `zero_amount`: a basis whose total is 0 kr."""
    return [
        Finding(
            AnomalyKind.ZERO_AMOUNT,
            subject_key("basis", [b.reference]),
            {"ref": b.reference, "status": b.status, "lines": b.line_count},
            basis_id=b.id,
            payer_id=b.payer_id,
            unit_id=b.unit_id,
        )
        for b in history.bases
        if b.total_ore == 0
    ]
