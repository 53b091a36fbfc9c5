"""What one claimed batch ended in, per attempt, and how it is written back in a few statements."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import (
    AttemptState,
    TransferAttempt,
)
from .visma.types import Melding, SendResult

STORED = frozenset({"MOTTATT", "FAKTURERT"})


@dataclass
class Outcome:
    """What one claim ended in, applied to the rows in one transaction by `_record`."""

    now: Any = field(default_factory=timezone.now)
    sent_bases: set[int] = field(default_factory=set)
    failed_bases: set[int] = field(default_factory=set)
    # Of the failed, those Visma refused (AVVIST, or our own check before the call): it stored
    # nothing, so the basis may be taken back and corrected.
    refused_bases: set[int] = field(default_factory=set)

    def _release(self, a: TransferAttempt) -> None:
        a.claimed_by = ""
        a.claimed_at = None

    def _final(self, a: TransferAttempt, state: AttemptState) -> None:
        self._release(a)
        a.state = state
        a.finished_at = self.now
        a.next_attempt_at = self.now  # meaningless once final; alike rows share one UPDATE
        a.status_check_required = False

    def sent(self, a: TransferAttempt, grunnlag_id: str, visma_status: str) -> None:
        self._final(a, AttemptState.SENT)
        a.grunnlag_id = grunnlag_id or a.grunnlag_id
        a.visma_status = visma_status
        a.last_error = ""
        self.sent_bases.add(a.basis_id)

    def validated(self, a: TransferAttempt, result: SendResult) -> None:
        self._final(a, AttemptState.VALIDATED)
        a.visma_status = result.status
        a.messages = as_messages(result.meldinger)

    def rejected(self, a: TransferAttempt, meldinger: Iterable[Melding], visma_status: str) -> None:
        self._final(a, AttemptState.REJECTED)
        a.visma_status = visma_status
        a.messages = as_messages(meldinger)
        a.retryable = False
        self.failed_bases.add(a.basis_id)
        self.refused_bases.add(a.basis_id)

    def failed(self, a: TransferAttempt, message: str, *, retryable: bool = True) -> None:
        self._final(a, AttemptState.FAILED)
        a.last_error = message
        a.retryable = retryable
        self.failed_bases.add(a.basis_id)

    def retry_later(self, a: TransferAttempt, message: str) -> None:
        """Visma surely did not store it: send again after a backoff, or give up at the cap."""
        if a.send_count >= settings.VISMA_MAX_SEND_ATTEMPTS:
            self.failed(
                a, _("Ga opp etter %(n)d forsøk: %(m)s") % {"n": a.send_count, "m": message}
            )
            return
        self._release(a)
        a.state = AttemptState.PENDING
        a.status_check_required = False
        a.last_error = message
        a.next_attempt_at = self.now + timedelta(seconds=backoff_seconds(a.send_count))

    def unknown(self, a: TransferAttempt, message: str, *, delay: float | None = None) -> None:
        """Visma may have it: nothing is sent again before HentStatus has answered."""
        self._release(a)
        a.state = AttemptState.UNKNOWN
        a.status_check_required = True
        a.last_error = message
        if delay is None:
            delay = backoff_seconds(max(1, a.send_count))
        a.next_attempt_at = self.now + timedelta(seconds=delay)

    def stopped(self, a: TransferAttempt, message: str) -> None:
        if a.status_check_required:
            self.unknown(a, message)
        else:
            self.failed(a, message)


def backoff_seconds(attempt: int) -> float:
    """Exponential with full jitter between half and all of the step, capped."""
    base = float(settings.VISMA_RETRY_BASE_SECONDS)
    step = min(float(settings.VISMA_RETRY_MAX_SECONDS), base * 2 ** min(30, max(0, attempt - 1)))
    return random.uniform(step / 2, step)  # noqa: S311 - jitter, not cryptography


def as_messages(meldinger: Iterable[Melding]) -> list[dict[str, str]]:
    return [{"kode": m.kode, "tekst": m.tekst, "felt": m.felt} for m in meldinger]


# Written per group of rows that ended alike (one UPDATE each, grunnlagId per row from a VALUES
# list). Django's bulk_update builds a CASE per row and field, which costs more than the Visma
# call itself at 200 rows.
_GROUPED_FIELDS = (
    "state",
    "status_check_required",
    "status_checks",
    "retryable",
    "batch_reference",
    "send_count",
    "next_attempt_at",
    "claimed_by",
    "claimed_at",
    "visma_status",
    "messages",
    "last_error",
    "first_sent_at",
    "last_sent_at",
    "finished_at",
    "last_call_ms",
)


def write_outcome(rows: list[TransferAttempt], token: str) -> None:
    """Only rows this worker still holds are written: a row whose lease the sweeper took back is
    left to the HentStatus path, which will find out the same thing from Visma.

    One UPDATE per group of rows that ended alike (nearly always one per call), carrying each
    row's grunnlagId in a VALUES list, so every row is written once."""
    table = connection.ops.quote_name(TransferAttempt._meta.db_table)
    groups: dict[tuple[Any, ...], tuple[TransferAttempt, list[TransferAttempt]]] = {}
    for a in rows:
        key = tuple(
            json.dumps(a.messages, sort_keys=True) if f == "messages" else getattr(a, f)
            for f in _GROUPED_FIELDS
        )
        groups.setdefault(key, (a, []))[1].append(a)
    with connection.cursor() as cursor:
        for sample, members in groups.values():
            sets = ", ".join(f"{column} = %s" for column, _field in _GROUPED_COLUMNS)
            values = ", ".join(["(%s, %s)"] * len(members))
            ids = ", ".join(["%s"] * len(members))
            # `id IN (…)` as well as the join: the planner then looks the rows up by key
            # instead of scanning the outbox to hash-join it with the VALUES list.
            cursor.execute(
                f"UPDATE {table} SET {sets}, grunnlag_id = v.column2 "  # noqa: S608 - fixed names
                f"FROM (VALUES {values}) AS v WHERE {table}.id IN ({ids}) "
                f"AND {table}.id = v.column1 AND {table}.claimed_by = %s",
                [
                    *(
                        field.get_db_prep_save(getattr(sample, field.attname), connection)
                        for _column, field in _GROUPED_COLUMNS
                    ),
                    *(x for a in members for x in (a.pk, a.grunnlag_id)),
                    *(a.pk for a in members),
                    token,
                ],
            )


_GROUPED_COLUMNS: tuple[tuple[str, Any], ...] = tuple(
    (f'"{field.column}"', field)  # quoted alike by PostgreSQL and SQLite
    for field in (TransferAttempt._meta.get_field(name) for name in _GROUPED_FIELDS)
    if isinstance(field, models.Field)
)
