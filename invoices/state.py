"""A basis's life: which status changes exist, and the one place that makes them.

```
received ──approve──> approved ──export──> exported                 (locked)
    ^                    │  └──send────> sending ──> sent            (locked)
    └────take back───────┘                  └──────> failed ──send again──> sending
    ^                                                  │
    └──────take back (only if the receiver refused it)─┘
```

Every change goes through `transition` (or a named step built on it): many bases in one statement
per chunk, `updated_at` always set, the month's totals moved with them (`summaries`), and a change
the table does not allow raises `TransitionRefused` before anything is written. A basis that is
not in the expected status is left alone and not counted, so a caller that locked its rows
compares the count with what it expected. The channels (file export, Visma) say what happened
("exported", "sent", "refused by the receiver"); they never write the status column themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.db import among

from . import summaries
from .models import BasisStatus, InvoiceBasis

RECEIVED = BasisStatus.RECEIVED
APPROVED = BasisStatus.APPROVED
EXPORTED = BasisStatus.EXPORTED
SENDING = BasisStatus.SENDING
SENT = BasisStatus.SENT
FAILED = BasisStatus.FAILED

# from → the statuses it may move to. Exported and sent bases are final: a correction is a credit
# note, a new basis of its own.
TRANSITIONS: Mapping[BasisStatus, frozenset[BasisStatus]] = {
    RECEIVED: frozenset({APPROVED}),
    APPROVED: frozenset({RECEIVED, EXPORTED, SENDING}),
    SENDING: frozenset({SENT, FAILED}),
    FAILED: frozenset({SENDING, RECEIVED}),
    EXPORTED: frozenset(),
    SENT: frozenset(),
}

# Ids per statement: bounded, so memory stays flat and every database's parameter limit holds.
CHUNK = 5000


class TransitionRefused(Exception):
    """A status change the life of a basis does not have (a programming error, not user input)."""


Bases = QuerySet[InvoiceBasis] | Sequence[int]


def allowed(frm: str, to: str) -> bool:
    return BasisStatus(to) in TRANSITIONS.get(BasisStatus(frm), frozenset())


def transition(
    bases: Bases,
    *,
    frm: str | Iterable[str],
    to: str,
    at: datetime | None = None,
    **fields: Any,
) -> int:
    """Move the bases among `bases` whose status is `frm` (one or several) to `to`, setting
    `fields` and `updated_at` too; how many moved. Raises TransitionRefused, writing nothing, if
    any `frm` → `to` is not a transition of the table."""
    sources = [frm] if isinstance(frm, str) else list(frm)
    refused = [s for s in sources if not allowed(s, to)]
    if refused or not sources:
        raise TransitionRefused(f"{', '.join(map(str, refused or ['(none)']))} → {to}")
    values = {"status": to, "updated_at": at or timezone.now(), **fields}
    with transaction.atomic():
        # The rows that move, locked in id order, so the month totals move exactly what the
        # update moves.
        ids = _lock_moving(bases, sources)
        if not ids:
            return 0
        moving = summaries.measure(ids)
        moved = 0
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            moved += InvoiceBasis.objects.filter(among("id", chunk), status__in=sources).update(
                **values
            )
        summaries.apply(moving, -1)
        summaries.apply(moving, 1, status=to)
        return moved


def _lock_moving(bases: Bases, sources: list[str]) -> list[int]:
    def locked(qs: QuerySet[InvoiceBasis]) -> list[int]:
        rows = qs.select_for_update().filter(status__in=sources).order_by("pk")
        return list(rows.values_list("pk", flat=True))

    if isinstance(bases, QuerySet):
        return locked(bases)
    wanted = sorted(set(bases))
    ids: list[int] = []
    for start in range(0, len(wanted), CHUNK):
        ids += locked(InvoiceBasis.objects.filter(among("id", wanted[start : start + CHUNK])))
    return ids


# --- the named steps the services and channels call -------------------------------------------


def approve(bases: Bases, *, by: Any, at: datetime) -> int:
    return transition(bases, frm=RECEIVED, to=APPROVED, at=at, approved_at=at, approved_by=by)


def take_back(bases: Bases) -> int:
    """Approved, or failed because the receiver refused it: back to received, to be corrected.
    (Which failed bases qualify is the caller's choice: see `invoice_basis_unapprove`.)"""
    return transition(
        bases,
        frm=(APPROVED, FAILED),
        to=RECEIVED,
        approved_at=None,
        approved_by=None,
        refused_by_receiver=False,
    )


def mark_exported(bases: Bases) -> int:
    """The file with these approved bases is stored: they have left the product."""
    return transition(bases, frm=APPROVED, to=EXPORTED)


def mark_sending(bases: Bases, *, again: bool = False) -> int:
    """A transfer took them: approved bases, or (`again`) failed ones sent once more."""
    return transition(
        bases, frm=FAILED if again else APPROVED, to=SENDING, refused_by_receiver=False
    )


def mark_sent(bases: Bases) -> int:
    return transition(bases, frm=SENDING, to=SENT)


def mark_failed(bases: Bases, *, refused: bool = False) -> int:
    """The transfer gave up on them. `refused`: the receiver refused the content and stored
    nothing, so the basis may be taken back and corrected; any other failure is sent again."""
    return transition(bases, frm=SENDING, to=FAILED, refused_by_receiver=refused)
