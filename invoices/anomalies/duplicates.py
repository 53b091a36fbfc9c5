"""Possible duplicates, from the month's own lines (docs/anomalies.md, "Possible duplicate").

Two lines are alike when they have the same payer (through their bases), service, quantity,
amount, description, text lines and service dates. The database finds the lines that have a twin
(one windowed count over the month's lines); only those come back. Bases all of whose lines pair
up with the lines of another basis of the same payer are reported once as duplicate bases; the
other alike lines are reported as duplicate lines.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from django.db.models import Count, F, Window

from core.db import among

from ..models import AnomalyKind, InvoiceLine
from .detect import LISTED, Finding, subject_key
from .history import History, MonthBasis

ALIKE = (
    "basis__payer_id",
    "service_id",
    "quantity",
    "amount_ore",
    "description",
    "texts",
    "service_from",
    "service_to",
)


def _lines_with_twins(municipality_id: int, history: History) -> list[tuple[Any, ...]]:
    # The month's lines by their bases' ids: through the (basis, line_no) index, never a scan of
    # every month's lines.
    ids = [b.id for b in history.bases]
    lines = InvoiceLine.objects.filter(
        among("basis__id", ids),
        basis__municipality_id=municipality_id,
        basis__period=history.period,
    ).order_by()
    return list(
        lines.annotate(copies=Window(Count("id"), partition_by=[F(name) for name in ALIKE]))
        .filter(copies__gt=1)
        .values_list("basis_id", "line_no", *ALIKE)
        .order_by("basis_id", "line_no")
    )


def duplicates(municipality_id: int, history: History) -> list[Finding]:
    if not history.bases:
        return []
    rows = _lines_with_twins(municipality_id, history)
    if not rows:
        return []
    bases = {b.id: b for b in history.bases}
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        _basis, _line_no, payer_id, service_id, quantity, amount, text, texts, start, end = row
        key = (payer_id, service_id, quantity, amount, text, json.dumps(texts), start, end)
        groups[key].append(row)

    # Bases whose every line has its twin in one other basis: the same basis twice.
    paired: Counter[tuple[int, int]] = Counter()
    for members in groups.values():
        per_basis = Counter(m[0] for m in members)
        ids = sorted(per_basis)
        for i, x in enumerate(ids):
            for y in ids[i + 1 :]:
                paired[(x, y)] += min(per_basis[x], per_basis[y])
    twins = [
        (x, y) for (x, y), n in paired.items() if n == bases[x].line_count == bases[y].line_count
    ]
    findings = _duplicate_bases(twins, bases)
    whole = {basis_id for pair in twins for basis_id in pair}

    for key, members in sorted(groups.items(), key=lambda item: item[1][0][:2]):
        if all(m[0] in whole for m in members) and len({m[0] for m in members}) > 1:
            continue  # already reported as duplicate bases
        first, second = members[0], members[1]
        listed = [
            {
                "basis_id": m[0],
                "ref": bases[m[0]].reference,
                "line_no": m[1],
            }
            for m in members[:LISTED]
        ]
        findings.append(
            Finding(
                AnomalyKind.DUPLICATE,
                subject_key("lines", [f"{bases[m[0]].reference}#{m[1]}" for m in members]),
                {
                    "what": "lines",
                    "count": len(members),
                    "lines": listed,
                    "quantity": str(key[2]),
                    "amount": key[3],
                    "description": key[4],
                    "texts": json.loads(key[5]),
                    "service_from": key[6].isoformat() if key[6] else "",
                    "service_to": key[7].isoformat() if key[7] else "",
                },
                basis_id=first[0],
                other_basis_id=second[0] if second[0] != first[0] else None,
                payer_id=key[0],
                service_id=key[1],
                unit_id=bases[first[0]].unit_id,
            )
        )
    return findings


def _duplicate_bases(twins: list[tuple[int, int]], bases: dict[int, MonthBasis]) -> list[Finding]:
    """One finding per set of bases that are copies of each other (usually a pair)."""
    linked: dict[int, set[int]] = defaultdict(set)
    for x, y in twins:
        linked[x].add(y)
        linked[y].add(x)
    seen: set[int] = set()
    findings = []
    for start in sorted(linked):
        if start in seen:
            continue
        component, todo = set(), [start]
        while todo:
            basis_id = todo.pop()
            if basis_id not in component:
                component.add(basis_id)
                todo.extend(linked[basis_id] - component)
        seen |= component
        members = [bases[i] for i in sorted(component)]
        findings.append(
            Finding(
                AnomalyKind.DUPLICATE,
                subject_key("bases", sorted(b.reference for b in members)),
                {
                    "what": "bases",
                    "count": len(members),
                    "lines": members[0].line_count,
                    "bases": [
                        {"id": b.id, "ref": b.reference, "total": b.total_ore, "status": b.status}
                        for b in members[:LISTED]
                    ],
                },
                basis_id=members[0].id,
                other_basis_id=members[1].id,
                payer_id=members[0].payer_id,
                unit_id=members[0].unit_id,
            )
        )
    return findings
