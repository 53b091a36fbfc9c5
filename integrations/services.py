"""Writes of the Visma integration: settings, transfers, and the delivery protocol of visma-ws.md.

The protocol, in the order a basis meets it:

1. `transfer_start` locks the approved bases, writes one `TransferAttempt` (outbox row) per basis
   and moves real bases to *sending*, all in one transaction; workers are woken after commit.
2. A worker claims up to 200 due attempts (`select_for_update(skip_locked=True)`), marks them
   *in flight* with its name and the time (the lease) and commits before any call is made.
3. Attempts whose previous call may have reached Visma (`status_check_required`) are first looked
   up with `HentStatus`: stored ones are *sent*; only `UKJENT` ones are sent again.
4. The rest go out in one `SendFakturagrunnlag`; each result is recorded on its attempt and basis.
   A reply that may have been lost leaves the attempts *unknown* (HentStatus first, after a
   settling delay); other transient trouble schedules a retry with capped, jittered backoff;
   after the cap the basis is *failed (retryable)*. 401/403, an unknown company, a bad URL or
   certificate stop the whole run for the administrator.
5. `attempts_sweep` (Celery beat) turns expired leases (a worker died mid-call) into *unknown*,
   so they too go through HentStatus before anything is sent again, and wakes stalled transfers.

Duplicates are never relied on: `DUPLIKAT` counts as sent, but nothing is resent unless Visma
says it does not know the reference.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, user_or_none
from invoices import state
from invoices.audit import audit
from invoices.identifiers import is_valid_kid
from invoices.models import BasisStatus, InvoiceBasis, Municipality, basis_reference

from .crypto import SecretUnreadable
from .models import (
    ACTIVE_TRANSFER_STATUSES,
    CLAIMABLE_STATES,
    LIVE_STATES,
    AttemptState,
    BasisVismaStatus,
    Transfer,
    TransferAttempt,
    TransferStatus,
    VismaSettings,
)
from .visma import mapping
from .visma.contract import MAX_BASES_PER_CALL as MAX_BATCH_SIZE
from .visma.contract import MAX_REFERANSER_PER_STATUS as STATUS_CHUNK
from .visma.errors import (
    AuthenticationFailed,
    ClientFault,
    ConfigurationError,
    TlsError,
    TransientError,
    VismaError,
)
from .visma.types import Melding, SendResult, SoapBasis, StatusResult

logger = logging.getLogger(__name__)

MAX_TEST_BASES = 20
STORED = frozenset({"MOTTATT", "FAKTURERT"})


class TransferError(Exception):
    """A transfer cannot start (or retry) as asked; `message` is Bokmål for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- settings ---------------------------------------------------------------------------------


def visma_settings_for(municipality: Municipality) -> VismaSettings | None:
    return VismaSettings.objects.filter(municipality=municipality).first()


@transaction.atomic
def visma_settings_update(
    municipality: Municipality,
    *,
    selskap: str,
    base_url: str,
    username: str,
    password: str,
    enabled: bool,
    actor: Actor,
    via: str = "web",
) -> VismaSettings:
    """Save validated settings (`forms.VismaSettingsForm`). An empty `password` keeps the stored
    one. The audit event has before/after without the password: only whether it changed."""
    obj = VismaSettings.objects.select_for_update().filter(municipality=municipality).first()
    before = obj.snapshot() if obj is not None else None
    if obj is None:
        obj = VismaSettings(municipality=municipality)
    obj.selskap = selskap
    obj.base_url = base_url
    obj.username = username
    password_changed = bool(password) and (
        not obj.has_password or _stored_password_differs(obj, password)
    )
    if password:
        obj.set_password(password)
    obj.enabled = enabled
    if enabled and not obj.has_password:
        raise ValidationError(_("Integrasjonen kan ikke aktiveres uten passord."))
    obj.updated_by = user_or_none(actor)
    obj.save()
    after = obj.snapshot()
    changed = sorted(k for k in after if before is None or before.get(k) != after[k])
    data: dict[str, Any] = {"before": before, "after": after, "changed": changed, "via": via}
    if password_changed:
        data["passord"] = "passord endret"
    if changed or password_changed:
        audit("visma.settings_changed", actor=actor, municipality=municipality, obj=obj, **data)
    return obj


def _stored_password_differs(obj: VismaSettings, password: str) -> bool:
    try:
        return obj.get_password() != password
    except SecretUnreadable:
        return True


@dataclass(frozen=True)
class PingOutcome:
    ok: bool
    message: str
    code: str = ""


def visma_settings_test(municipality: Municipality, *, actor: Actor) -> PingOutcome:
    """*Test tilkobling*: `Ping` with the saved settings; the outcome is stored and audited."""
    obj = visma_settings_for(municipality)
    if obj is None:
        return PingOutcome(False, _("Integrasjonen er ikke satt opp ennå."), "IKKE_SATT_OPP")
    outcome = _ping(obj)
    obj.last_test_at = timezone.now()
    obj.last_test_ok = outcome.ok
    obj.last_test_message = outcome.message[:500]
    obj.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
    audit(
        "visma.connection_tested",
        actor=actor,
        municipality=municipality,
        obj=obj,
        ok=outcome.ok,
        code=outcome.code,
    )
    return outcome


def _ping(obj: VismaSettings) -> PingOutcome:
    if not obj.has_password:
        return PingOutcome(False, _("Passord mangler: legg inn passordet fra Visma."), "PASSORD")
    try:
        result = _client(obj).ping(obj.selskap)
    except SecretUnreadable as exc:
        return PingOutcome(False, str(exc), "NOKKEL")
    except VismaError as exc:
        return PingOutcome(False, explain(exc, selskap=obj.selskap), exc.code or type(exc).__name__)
    return PingOutcome(
        True,
        _("Tilkoblingen virker: %(navn)s (selskap %(selskap)s), tjenesteversjon %(versjon)s.")
        % {
            "navn": result.selskapsnavn,
            "selskap": result.selskap,
            "versjon": result.tjenesteversjon,
        },
        "OK",
    )


def explain(error: VismaError, *, selskap: str = "") -> str:
    """The reason, as the administrator needs to read it (never contains the password)."""
    if isinstance(error, AuthenticationFailed):
        return _("Feil brukernavn eller passord: %(m)s") % {"m": error.message}
    if isinstance(error, ClientFault) and error.code == "UKJENT_SELSKAP":
        return _(
            "Ukjent selskap «%(s)s»: selskapet finnes ikke i Visma, eller brukeren har ikke "
            "tilgang til det. (%(m)s)"
        ) % {"s": selskap, "m": error.message}
    if isinstance(error, TlsError) or error.code == "TLS":
        return _("TLS-feil: %(m)s") % {"m": error.message}
    if error.code.startswith("TIDSAVBRUDD"):
        return _("Tidsavbrudd: %(m)s") % {"m": error.message}
    if error.code == "INGEN_TILKOBLING":
        return _("Serveren kan ikke nås: %(m)s") % {"m": error.message}
    return error.message


def _client(obj: VismaSettings) -> Any:
    # Looked up at call time so that tests and benchmarks can count or wrap calls.
    from .visma.client import get_client

    return get_client(obj.base_url, obj.username, obj.get_password())


# --- starting transfers -------------------------------------------------------------------------


def _usable_settings(municipality: Municipality) -> VismaSettings:
    obj = visma_settings_for(municipality)
    if obj is None or not obj.enabled or not obj.has_password:
        raise TransferError(
            _(
                "Integrasjonen til Visma er ikke aktivert for kommunen. Systemadministrator må "
                "sette den opp under Administrasjon → Integrasjon til fakturering i Visma."
            )
        )
    return obj


def sendable_bases(municipality: Municipality, period: str) -> Any:
    """Approved bases of the period: what *Send til Visma* would carry."""
    return InvoiceBasis.objects.filter(
        municipality=municipality, period=period, status=BasisStatus.APPROVED
    )


def transfer_start(
    municipality: Municipality,
    *,
    period: str | None = None,
    basis_ids: Sequence[int] | None = None,
    actor: Actor,
    test: bool = False,
) -> Transfer:
    """Create a transfer of the approved bases of `period` (and/or exactly `basis_ids`).

    Real transfers lock the bases (→ *sending*) in the same transaction that writes the outbox, so
    a double click or two users at once cannot give a basis two live attempts: the second start
    finds nothing approved left (or trips the partial unique index) and is refused. Test transfers
    (at most 20 chosen bases, `testmodus=true`) lock nothing.
    """
    _usable_settings(municipality)
    if period is None and basis_ids is None:
        raise TransferError(_("Velg en periode eller bestemte grunnlag."))
    if test:
        if not basis_ids:
            raise TransferError(_("Velg hvilke grunnlag testoverføringen skal ta med."))
        if len(set(basis_ids)) > MAX_TEST_BASES:
            raise TransferError(
                _("En testoverføring kan ta med høyst %(n)d grunnlag.") % {"n": MAX_TEST_BASES}
            )
    try:
        with transaction.atomic():
            transfer = _create_transfer(
                municipality, period=period, basis_ids=basis_ids, actor=actor, test=test
            )
    except IntegrityError as exc:
        # Another start took some of these bases between our read and our insert.
        raise TransferError(
            _("Noen av grunnlagene sendes allerede. Last siden på nytt og prøv igjen.")
        ) from exc
    return transfer


def _selected(
    municipality: Municipality, period: str | None, basis_ids: Sequence[int] | None
) -> Any:
    qs = InvoiceBasis.objects.filter(municipality=municipality, status=BasisStatus.APPROVED)
    if period:
        qs = qs.filter(period=period)
    if basis_ids is not None:
        qs = qs.filter(pk__in=list(basis_ids))
    return qs


def _create_transfer(
    municipality: Municipality,
    *,
    period: str | None,
    basis_ids: Sequence[int] | None,
    actor: Actor,
    test: bool,
) -> Transfer:
    qs = _selected(municipality, period, basis_ids)
    if not test:
        qs = qs.select_for_update()
    rows = list(qs.order_by("pk").values_list("pk", "total_ore"))
    if not rows:
        raise TransferError(_("Det er ingen godkjente grunnlag å sende i dette utvalget."))
    if test and basis_ids is not None and len(rows) != len(set(basis_ids)):
        raise TransferError(_("Bare godkjente grunnlag kan tas med i en testoverføring."))
    transfer = Transfer.objects.create(
        municipality=municipality,
        created_by=user_or_none(actor),
        is_test=test,
        period=period or "",
        is_selection=basis_ids is not None,
        basis_count=len(rows),
        total_ore=sum(t for _, t in rows),
        counts={AttemptState.PENDING.value: len(rows)},
    )
    inserted = _insert_attempts(transfer, _selected(municipality, period, basis_ids))
    if inserted != len(rows):  # pragma: no cover - the rows are locked; a mismatch is a bug
        raise IntegrityError("the selection changed while the outbox was written")
    if not test:
        moved = state.mark_sending(_selected(municipality, period, basis_ids))
        if moved != len(rows):  # pragma: no cover - rows are locked; a mismatch is a bug
            raise IntegrityError("approved bases changed while locked")
    audit(
        "visma.transfer_started",
        actor=actor,
        municipality=municipality,
        obj=transfer,
        test=test,
        period=transfer.period,
        count=transfer.basis_count,
        total_ore=transfer.total_ore,
    )
    _wake_after_commit(transfer)
    return transfer


def _insert_attempts(transfer: Transfer, bases: Any) -> int:
    """One pending attempt per basis of the queryset, written by the database in one statement
    (INSERT … SELECT): a month of 20 000 bases costs no model instances in Python."""
    table = connection.ops.quote_name(TransferAttempt._meta.db_table)
    inner, inner_params = bases.order_by().values("id").query.sql_with_params()
    if connection.vendor == "postgresql":
        padded = "lpad(b.id::text, greatest(9, length(b.id::text)), '0')"
    else:
        padded = "printf('%%09d', b.id)"
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    sql = (
        f"INSERT INTO {table} (transfer_id, basis_id, is_test, reference, state, "  # noqa: S608
        "status_check_required, status_checks, retryable, batch_reference, send_count, "
        "next_attempt_at, claimed_by, grunnlag_id, visma_status, messages, last_error, "
        f"created_at) SELECT %s, b.id, %s, %s || '-' || {padded}, %s, FALSE, 0, FALSE, '', 0, "
        f"%s, '', '', '', '[]', '', %s FROM ({inner}) b ORDER BY b.id"
    )
    params = [
        transfer.pk,
        transfer.is_test,
        transfer.municipality.number,
        AttemptState.PENDING.value,
        now,
        now,
        *inner_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _write_attempts(transfer: Transfer, bases: Iterable[tuple[int, bool]]) -> None:
    number = transfer.municipality.number
    TransferAttempt.objects.bulk_create(
        (
            TransferAttempt(
                transfer=transfer,
                basis_id=pk,
                is_test=transfer.is_test,
                reference=basis_reference(number, pk),
                state=AttemptState.UNKNOWN if check else AttemptState.PENDING,
                status_check_required=check,
            )
            for pk, check in bases
        ),
        batch_size=2000,
    )


def transfer_retry_failed(
    transfer: Transfer, *, actor: Actor, include_rejected: bool = False
) -> Transfer:
    """Send again, in a new transfer, the bases of `transfer` that failed for reasons that may
    have passed (network, Visma down, a stopped run). With `include_rejected`, also the bases
    Visma rejected, once the cause is corrected (typically the service catalogue's vare or
    oppdragsgiver: the mapping is read again at sending time). A rejected basis was not stored,
    so sending it again cannot bill anyone twice."""
    if transfer.is_test:
        raise TransferError(_("Testoverføringer sendes ikke på nytt; start en ny test."))
    _usable_settings(transfer.municipality)
    try:
        with transaction.atomic():
            return _create_retry(transfer, actor, include_rejected)
    except IntegrityError as exc:
        raise TransferError(_("Noen av grunnlagene sendes allerede.")) from exc


def _create_retry(old: Transfer, actor: Actor, include_rejected: bool) -> Transfer:
    again = Q(state=AttemptState.FAILED, retryable=True)
    if include_rejected:
        again |= Q(state=AttemptState.REJECTED)
    failed = {
        basis_id: check
        for basis_id, check in old.attempts.filter(again).values_list(
            "basis_id", "status_check_required"
        )
    }
    locked = InvoiceBasis.objects.select_for_update().filter(
        municipality=old.municipality, pk__in=list(failed), status=BasisStatus.FAILED
    )
    rows = list(locked.order_by("pk").values_list("pk", "total_ore"))
    if not rows:
        raise TransferError(_("Det er ingen feilede grunnlag som kan sendes på nytt."))
    transfer = Transfer.objects.create(
        municipality=old.municipality,
        created_by=user_or_none(actor),
        period=old.period,
        is_selection=True,
        retry_of=old,
        basis_count=len(rows),
        total_ore=sum(t for _, t in rows),
        counts={AttemptState.PENDING.value: len(rows)},
    )
    _write_attempts(transfer, [(pk, failed[pk]) for pk, _ in rows])
    state.mark_sending([pk for pk, _ in rows], again=True)
    audit(
        "visma.transfer_retry_started",
        actor=actor,
        municipality=old.municipality,
        obj=transfer,
        retry_of=old.pk,
        include_rejected=include_rejected,
        count=transfer.basis_count,
    )
    _wake_after_commit(transfer)
    return transfer


def _batch_size() -> int:
    return max(1, min(MAX_BATCH_SIZE, int(settings.VISMA_BATCH_SIZE)))


def _wake_after_commit(transfer: Transfer) -> None:
    workers = max(
        1, min(settings.VISMA_PARALLEL_CALLS, math.ceil(transfer.basis_count / _batch_size()))
    )
    transfer_id = transfer.pk
    transaction.on_commit(lambda: enqueue_send(transfer_id, copies=workers))


def enqueue_send(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
    """Wake `copies` workers for the transfer. A lost message is harmless: the sweeper wakes
    transfers whose due work waits too long."""
    from . import tasks

    try:
        for _i in range(copies):
            if countdown:
                tasks.send_transfer.apply_async((transfer_id,), countdown=countdown)
            else:
                tasks.send_transfer.apply_async((transfer_id,))
    except Exception:
        logger.exception("Could not enqueue transfer %s; the sweeper will pick it up", transfer_id)


# --- the worker ---------------------------------------------------------------------------------


def transfer_process(transfer_id: int, *, time_budget: float | None = None) -> None:
    """Claim and deliver batches of the transfer until none is due, then settle it: finish it,
    or schedule a wake-up for the next retry. Safe to run in several workers at once."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]
    budget = settings.VISMA_WORKER_TIME_BUDGET if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    seen: set[int] = set()
    context: mapping.MappingContext | None = None
    while True:
        if time.monotonic() > deadline:
            enqueue_send(transfer_id)
            return
        claim = _claim(transfer_id, token)
        if claim is None:
            break
        claim.context = context
        _deliver(claim)
        context = claim.context
        ids = {a.pk for a in claim.attempts}
        if ids <= seen:
            # Only rows this run already tried: leave their next try to a scheduled wake-up
            # instead of spinning on them here.
            break
        seen |= ids
    _settle(transfer_id)


@dataclass
class _Claim:
    transfer: Transfer
    attempts: list[TransferAttempt]
    token: str
    batch_reference: str
    status_only: bool = False
    # The catalogue mapping, read once per worker run rather than once per call.
    context: mapping.MappingContext | None = None


class _NothingDue(Exception):
    pass


def _claim(transfer_id: int, token: str, *, status_only: bool = False) -> _Claim | None:
    """Take up to 200 due attempts and commit the lease before any call is made.

    Two statements in one short transaction: number the call on the transfer row (which also
    checks the run is still active), then mark the oldest due attempts *in flight* for this
    worker, skipping rows another worker is claiming (FOR UPDATE SKIP LOCKED on PostgreSQL).
    """
    transfer = Transfer.objects.select_related("municipality").filter(pk=transfer_id).first()
    if transfer is None:
        logger.warning("Visma transfer %s does not exist (stale task?)", transfer_id)
        return None
    if not status_only and transfer.status not in ACTIVE_TRANSFER_STATUSES:
        return None
    now = timezone.now()
    states = (AttemptState.UNKNOWN,) if status_only else CLAIMABLE_STATES
    try:
        with transaction.atomic():
            seq = _next_batch_seq(transfer_id, now, status_only=status_only)
            if seq is None:
                return None
            batch_reference = f"{transfer.municipality.number}-{transfer.pk}-{seq:04d}"[:40]
            attempts = _claim_rows(transfer_id, states, now, token, batch_reference)
            if not attempts:
                raise _NothingDue
    except _NothingDue:
        return None
    return _Claim(transfer, attempts, token, batch_reference, status_only)


def _next_batch_seq(transfer_id: int, now: Any, *, status_only: bool) -> int | None:
    table = connection.ops.quote_name(Transfer._meta.db_table)
    if status_only:
        sql = f"UPDATE {table} SET batch_seq = batch_seq + 1 WHERE id = %s RETURNING batch_seq"  # noqa: S608
        params: list[Any] = [transfer_id]
    else:
        sql = (
            f"UPDATE {table} SET batch_seq = batch_seq + 1, status = %s, "  # noqa: S608
            "started_at = COALESCE(started_at, %s) "
            "WHERE id = %s AND status IN (%s, %s) RETURNING batch_seq"
        )
        params = [
            TransferStatus.RUNNING.value,
            connection.ops.adapt_datetimefield_value(now),
            transfer_id,
            TransferStatus.QUEUED.value,
            TransferStatus.RUNNING.value,
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _claim_rows(
    transfer_id: int, states: Sequence[str], now: Any, token: str, batch_reference: str
) -> list[TransferAttempt]:
    table = connection.ops.quote_name(TransferAttempt._meta.db_table)
    skip_locked = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    placeholders = ", ".join(["%s"] * len(states))
    at = connection.ops.adapt_datetimefield_value(now)
    # SQLite returns only the updated table's columns and refuses `table.*` there.
    returning = f"{table}.*" if connection.vendor == "postgresql" else "*"
    # The rows are picked once, in a materialized CTE: as `WHERE id IN (SELECT … LIMIT …)`,
    # PostgreSQL may run the locking subquery again for every outer row (nested-loop semi join),
    # which costs O(n × batch) and can claim more than one batch.
    sql = (
        f"WITH picked AS MATERIALIZED (SELECT id FROM {table} WHERE transfer_id = %s "  # noqa: S608
        f"AND state IN ({placeholders}) AND next_attempt_at <= %s ORDER BY id LIMIT %s"
        f"{skip_locked}) "
        f"UPDATE {table} SET state = %s, claimed_by = %s, claimed_at = %s, "
        f"batch_reference = %s FROM picked WHERE {table}.id = picked.id RETURNING {returning}"
    )
    params = [
        transfer_id,
        *[str(s) for s in states],
        at,
        _batch_size(),
        AttemptState.IN_FLIGHT.value,
        token,
        at,
        batch_reference,
    ]
    attempts = list(TransferAttempt.objects.raw(sql, params))
    attempts.sort(key=lambda a: a.pk)
    return attempts


class _StopRun(Exception):
    """Every further call of this run would fail the same way: stop and tell the administrator."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _stops_run(error: VismaError) -> bool:
    return isinstance(error, AuthenticationFailed | ConfigurationError | TlsError) or (
        isinstance(error, ClientFault) and error.code == "UKJENT_SELSKAP"
    )


@dataclass
class _Outcome:
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
        a.messages = _meldinger(result.meldinger)

    def rejected(self, a: TransferAttempt, meldinger: Iterable[Melding], visma_status: str) -> None:
        self._final(a, AttemptState.REJECTED)
        a.visma_status = visma_status
        a.messages = _meldinger(meldinger)
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


def _meldinger(meldinger: Iterable[Melding]) -> list[dict[str, str]]:
    return [{"kode": m.kode, "tekst": m.tekst, "felt": m.felt} for m in meldinger]


def _deliver(claim: _Claim) -> None:
    outcome = _Outcome()
    try:
        _deliver_into(claim, outcome)
    except _StopRun as stop:
        for a in claim.attempts:
            if a.claimed_by:  # not yet decided
                outcome.stopped(a, stop.message)
        _record(claim, outcome)
        _stop_transfer(claim.transfer.pk, stop.message, stop.code)
        return
    except Exception:
        # Unknown trouble (a bug, the database): whatever happened, the next look is HentStatus.
        logger.exception("Visma delivery failed unexpectedly (bunt %s)", claim.batch_reference)
        for a in claim.attempts:
            if a.claimed_by:
                if a.is_test:
                    outcome.retry_later(a, _("Uventet feil under sending"))
                else:
                    outcome.unknown(a, _("Uventet feil under sending; status hentes fra Visma."))
        _record(claim, outcome)
        raise
    _record(claim, outcome)


def _deliver_into(claim: _Claim, outcome: _Outcome) -> None:
    vs = visma_settings_for(claim.transfer.municipality)
    if vs is None or not vs.enabled:
        raise _StopRun(_("Integrasjonen til Visma er slått av."), "DEAKTIVERT")
    try:
        client = _client(vs)
    except SecretUnreadable as exc:
        raise _StopRun(str(exc), "NOKKEL") from None
    except VismaError as exc:
        raise _StopRun(explain(exc, selskap=vs.selskap), exc.code) from None

    to_send = [a for a in claim.attempts if not a.status_check_required or a.is_test]
    uncertain = [a for a in claim.attempts if a.status_check_required and not a.is_test]
    if uncertain:
        to_send.extend(_resolve(client, vs, uncertain, outcome))
    if claim.status_only:
        for a in to_send:
            outcome.failed(
                a, a.last_error or _("Overføringen ble stoppet før grunnlaget ble sendt.")
            )
        return
    if not to_send:
        return
    if claim.context is None:
        claim.context = mapping.context_for(claim.transfer.municipality)
    mapped = mapping.load([a.basis_id for a in to_send], claim.context)
    ready: list[tuple[TransferAttempt, SoapBasis]] = []
    for a in to_send:
        soap = mapped.get(a.basis_id)
        if soap is None:
            outcome.failed(a, _("Grunnlaget finnes ikke lenger."), retryable=False)
        elif isinstance(soap, mapping.Rejected):
            outcome.rejected(a, soap.meldinger, "LOKAL_KONTROLL")
        else:
            ready.append((a, soap))
    if ready:
        _send(client, vs, claim, ready, outcome, claim.batch_reference)


def _resolve(
    client: Any, vs: VismaSettings, uncertain: list[TransferAttempt], outcome: _Outcome
) -> list[TransferAttempt]:
    """HentStatus for attempts that may be stored; returns those Visma does not have."""
    try:
        statuses: list[StatusResult] = client.status(vs.selskap, [a.reference for a in uncertain])
    except VismaError as exc:
        if _stops_run(exc):
            raise _StopRun(explain(exc, selskap=vs.selskap), exc.code) from None
        for a in uncertain:
            a.status_checks += 1
            outcome.unknown(
                a,
                _("Status kunne ikke hentes: %(m)s") % {"m": exc.message},
                delay=backoff_seconds(a.status_checks),
            )
        return []
    resend: list[TransferAttempt] = []
    for a, st in zip(uncertain, statuses, strict=True):
        a.status_checks += 1
        if st.tilstand in STORED:
            outcome.sent(a, st.grunnlag_id, st.tilstand)
        else:
            # UKJENT (or AVVIST: rejected and never stored): Visma does not have it.
            a.status_check_required = False
            resend.append(a)
    return resend


def _send(
    client: Any,
    vs: VismaSettings,
    claim: _Claim,
    pairs: list[tuple[TransferAttempt, SoapBasis]],
    outcome: _Outcome,
    buntreferanse: str,
) -> None:
    testmodus = claim.transfer.is_test
    for a, _soap in pairs:
        if a.send_count >= settings.VISMA_MAX_SEND_ATTEMPTS:
            outcome.failed(a, a.last_error or _("For mange forsøk."))
    pairs = [(a, s) for a, s in pairs if a.claimed_by]
    if not pairs:
        return
    for a, _soap in pairs:
        a.send_count += 1
        a.first_sent_at = a.first_sent_at or outcome.now
        a.last_sent_at = outcome.now
        a.batch_reference = buntreferanse
    started = time.monotonic()
    try:
        results: list[SendResult] = client.send(
            vs.selskap, buntreferanse, [s for _a, s in pairs], testmodus
        )
    except VismaError as exc:
        _record_call_ms(pairs, started)
        _send_failed(client, vs, claim, pairs, outcome, buntreferanse, exc)
        return
    _record_call_ms(pairs, started)
    for (a, _soap), result in zip(pairs, results, strict=True):
        if result.status in ("MOTTATT", "DUPLIKAT") and not testmodus:
            outcome.sent(a, result.grunnlag_id, result.status)
        elif result.status == "VALIDERT" and testmodus:
            outcome.validated(a, result)
        elif result.status == "AVVIST":
            outcome.rejected(a, result.meldinger, result.status)
        elif testmodus:
            outcome.failed(a, _("Uventet svar i testmodus: %(s)s") % {"s": result.status})
        else:
            # A status the contract does not allow here: do not guess, look it up later.
            outcome.unknown(a, _("Uventet svar fra Visma: %(s)s") % {"s": result.status})


def _record_call_ms(pairs: list[tuple[TransferAttempt, SoapBasis]], started: float) -> None:
    ms = int((time.monotonic() - started) * 1000)
    for a, _soap in pairs:
        a.last_call_ms = ms


def _send_failed(
    client: Any,
    vs: VismaSettings,
    claim: _Claim,
    pairs: list[tuple[TransferAttempt, SoapBasis]],
    outcome: _Outcome,
    buntreferanse: str,
    exc: VismaError,
) -> None:
    if _stops_run(exc):
        raise _StopRun(explain(exc, selskap=vs.selskap), exc.code or type(exc).__name__)
    if isinstance(exc, ClientFault):
        if len(pairs) > 1 and exc.code == "UGYLDIG_FORESPORSEL":
            # Nothing of the call was stored. Halve it until the basis Visma refuses is found, so
            # one bad basis does not fail 199 good ones.
            middle = len(pairs) // 2
            for part, suffix in ((pairs[:middle], "a"), (pairs[middle:], "b")):
                for a, _soap in part:
                    a.send_count -= 1  # the halves count as the same attempt
                _send(client, vs, claim, part, outcome, f"{buntreferanse}{suffix}"[:40])
            return
        for a, _soap in pairs:
            if exc.code == "UGYLDIG_FORESPORSEL":
                outcome.rejected(a, [Melding(exc.code, exc.message)], exc.code)
            else:
                outcome.failed(a, exc.message)
        return
    if isinstance(exc, TransientError) and exc.maybe_delivered and not claim.transfer.is_test:
        # The server may still be working on the call: give it time before asking HentStatus.
        for a, _soap in pairs:
            outcome.unknown(
                a,
                _("Svaret fra Visma gikk tapt: %(m)s Status hentes før noe sendes på nytt.")
                % {"m": exc.message},
                delay=settings.VISMA_STATUS_SETTLE_SECONDS,
            )
        return
    for a, _soap in pairs:
        outcome.retry_later(a, exc.message)


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


def _write_attempts_outcome(rows: list[TransferAttempt], token: str) -> None:
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


def _record(claim: _Claim, outcome: _Outcome) -> None:
    """Write what the claim ended in, with the bases' new statuses, in one transaction."""
    rows = [a for a in claim.attempts if not a.claimed_by]  # decided (undecided stay leased)
    with transaction.atomic():
        _write_attempts_outcome(rows, claim.token)
        if not claim.transfer.is_test:
            if outcome.sent_bases:
                state.mark_sent(sorted(outcome.sent_bases))
            if outcome.failed_bases:
                state.mark_failed(sorted(outcome.failed_bases - outcome.refused_bases))
            if outcome.refused_bases:
                state.mark_failed(sorted(outcome.refused_bases), refused=True)
    _refresh_counts_now_and_then(claim.transfer.pk)


# The history list reads Transfer.counts; the progress page counts live. Refreshing the stored
# counts after every call would cost two statements per call, so a worker does it every few
# seconds, and always when a transfer ends or stops.
_COUNTS_EVERY_SECONDS = 2.0
_counts_refreshed: dict[int, float] = {}


def _refresh_counts_now_and_then(transfer_id: int) -> None:
    now = time.monotonic()
    if now - _counts_refreshed.get(transfer_id, 0.0) < _COUNTS_EVERY_SECONDS:
        return
    if len(_counts_refreshed) > 1000:
        _counts_refreshed.clear()
    _counts_refreshed[transfer_id] = now
    _refresh_counts(transfer_id)


def _refresh_counts(transfer_id: int) -> dict[str, int]:
    counts = dict(
        TransferAttempt.objects.filter(transfer_id=transfer_id)
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    Transfer.objects.filter(pk=transfer_id).update(counts=counts)
    return counts


def _stop_transfer(transfer_id: int, message: str, code: str) -> None:
    """Stop the run: what is not in flight fails (retryable); uncertain rows stay *unknown* for
    the sweeper to resolve, never to be sent again by this run."""
    now = timezone.now()
    with transaction.atomic():
        stopped = Transfer.objects.filter(
            pk=transfer_id, status__in=ACTIVE_TRANSFER_STATUSES
        ).update(status=TransferStatus.STOPPED, stop_reason=message, finished_at=now, wake_at=None)
        _fail_pending(transfer_id, message, now)
        _refresh_counts(transfer_id)
        if stopped:
            transfer = Transfer.objects.select_related("municipality").get(pk=transfer_id)
            audit(
                "visma.transfer_stopped",
                actor=None,
                municipality=transfer.municipality,
                obj=transfer,
                code=code,
                reason=message,
            )
    logger.warning("Visma transfer %s stopped (%s)", transfer_id, code)


def _fail_pending(transfer_id: int, message: str, now: Any) -> None:
    pending = TransferAttempt.objects.filter(transfer_id=transfer_id, state=AttemptState.PENDING)
    basis_ids = list(pending.values_list("basis_id", flat=True))
    pending.update(
        state=AttemptState.FAILED,
        retryable=True,
        last_error=message,
        finished_at=now,
        claimed_by="",
        claimed_at=None,
    )
    state.mark_failed(basis_ids)


def _settle(transfer_id: int) -> None:
    """Finish the transfer when no attempt is live; else make sure someone wakes up for the
    earliest retry."""
    now = timezone.now()
    live = TransferAttempt.objects.filter(transfer_id=transfer_id, state__in=LIVE_STATES)
    info = live.aggregate(
        n=Count("id"),
        in_flight=Count("id", filter=Q(state=AttemptState.IN_FLIGHT)),
        due=Min("next_attempt_at", filter=Q(state__in=CLAIMABLE_STATES)),
    )
    if info["n"] == 0:
        _finish(transfer_id, now)
        return
    if info["due"] is None:
        return  # only in-flight rows: their workers settle after recording
    if not Transfer.objects.filter(pk=transfer_id, status__in=ACTIVE_TRANSFER_STATUSES).exists():
        # Stopped while this worker's call was out: what it left pending will not be sent.
        with transaction.atomic():
            _fail_pending(transfer_id, _("Overføringen ble stoppet før grunnlaget ble sendt."), now)
            _refresh_counts(transfer_id)
        return
    wait = max(0.0, (info["due"] - now).total_seconds())
    when = now + timedelta(seconds=wait)
    scheduled = (
        Transfer.objects.filter(pk=transfer_id, status__in=ACTIVE_TRANSFER_STATUSES)
        .filter(Q(wake_at__isnull=True) | Q(wake_at__lte=now) | Q(wake_at__gt=when))
        .update(wake_at=when)
    )
    if scheduled:
        enqueue_send(transfer_id, countdown=wait or None)


def _finish(transfer_id: int, now: Any) -> None:
    with transaction.atomic():
        counts = _refresh_counts(transfer_id)
        answered = sum(
            counts.get(s, 0)
            for s in (AttemptState.SENT, AttemptState.VALIDATED, AttemptState.REJECTED)
        )
        status = TransferStatus.DONE if answered else TransferStatus.FAILED
        if not Transfer.objects.filter(pk=transfer_id, status__in=ACTIVE_TRANSFER_STATUSES).update(
            status=status, finished_at=now, wake_at=None
        ):
            return
        transfer = Transfer.objects.select_related("municipality").get(pk=transfer_id)
        audit(
            "visma.transfer_finished",
            actor=None,
            municipality=transfer.municipality,
            obj=transfer,
            test=transfer.is_test,
            status=status,
            counts=counts,
        )
    logger.info("Visma transfer %s finished: %s", transfer_id, counts)


# --- the sweeper --------------------------------------------------------------------------------


def attempts_sweep(*, now: Any = None) -> dict[str, int]:
    """Periodic: expired leases → *unknown* (HentStatus before any resend), wake stalled transfers,
    resolve uncertain rows of stopped transfers, finish transfers with nothing left."""
    now = now or timezone.now()
    lease_cutoff = now - timedelta(seconds=settings.VISMA_LEASE_SECONDS)
    report: Counter[str] = Counter()
    with transaction.atomic():
        expired = TransferAttempt.objects.filter(
            state=AttemptState.IN_FLIGHT, claimed_at__lt=lease_cutoff
        )
        woken = set(expired.values_list("transfer_id", flat=True))
        report["expired"] = expired.filter(is_test=False).update(
            state=AttemptState.UNKNOWN,
            status_check_required=True,
            claimed_by="",
            claimed_at=None,
            next_attempt_at=now,
            last_error=_(
                "Sendingen ble avbrutt (arbeideren stoppet); status hentes fra Visma før noe "
                "sendes på nytt."
            ),
        )
        report["expired"] += expired.filter(is_test=True).update(
            state=AttemptState.PENDING, claimed_by="", claimed_at=None, next_attempt_at=now
        )
    stale_cutoff = now - timedelta(seconds=settings.VISMA_SWEEP_GRACE_SECONDS)
    active = Transfer.objects.filter(status__in=ACTIVE_TRANSFER_STATUSES)
    woken |= set(
        active.filter(
            attempts__state__in=CLAIMABLE_STATES, attempts__next_attempt_at__lte=stale_cutoff
        ).values_list("pk", flat=True)
    )
    for transfer_id in sorted(woken):
        enqueue_send(transfer_id)
    report["woken"] = len(woken)
    for transfer_id in active.exclude(attempts__state__in=LIVE_STATES).values_list("pk", flat=True):
        _finish(transfer_id, now)
        report["finished"] += 1
    for transfer_id in (
        Transfer.objects.exclude(status__in=ACTIVE_TRANSFER_STATUSES)
        .filter(attempts__state__in=CLAIMABLE_STATES)
        .values_list("pk", flat=True)
        .distinct()
    ):
        report["resolved"] += _resolve_stopped(transfer_id)
    if any(report.values()):
        logger.info("Visma sweep: %s", dict(report))
    return dict(report)


def _resolve_stopped(transfer_id: int) -> int:
    """A stopped run sends nothing more: pending rows fail (retryable), unknown ones are looked
    up with HentStatus and end *sent* or *failed (retryable)*."""
    now = timezone.now()
    with transaction.atomic():
        _fail_pending(transfer_id, _("Overføringen ble stoppet før grunnlaget ble sendt."), now)
        _refresh_counts(transfer_id)
    token = f"sweeper:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claim = _claim(transfer_id, token, status_only=True)
    if claim is None:
        return 0
    outcome = _Outcome()
    try:
        _deliver_into(claim, outcome)
    except _StopRun as stop:
        for a in claim.attempts:
            if a.claimed_by:
                outcome.unknown(a, stop.message)
    _record(claim, outcome)
    return len(claim.attempts)


# --- status read-back ---------------------------------------------------------------------------


def status_refresh(municipality: Municipality, *, actor: Actor = None, limit: int = 5000) -> int:
    """Ask HentStatus about sent bases not yet invoiced; store invoice number, dates, KID and
    amount. An invalid KID or a differing amount is kept as a warning on the basis."""
    vs = _usable_settings(municipality)
    rows = list(
        TransferAttempt.objects.filter(
            transfer__municipality=municipality, is_test=False, state=AttemptState.SENT
        )
        .exclude(basis__visma_status__tilstand="FAKTURERT")
        .order_by("pk")
        .values_list("basis_id", "reference", "basis__total_ore")[:limit]
    )
    client = _client(vs)
    stored = 0
    for start in range(0, len(rows), STATUS_CHUNK):
        chunk = rows[start : start + STATUS_CHUNK]
        results = client.status(vs.selskap, [ref for _, ref, _t in chunk])
        now = timezone.now()
        objs = [
            _status_row(basis_id, total, result, now)
            for (basis_id, _ref, total), result in zip(chunk, results, strict=True)
        ]
        BasisVismaStatus.objects.bulk_create(
            objs,
            update_conflicts=True,
            unique_fields=["basis"],
            update_fields=[
                "tilstand",
                "grunnlag_id",
                "fakturanummer",
                "fakturadato",
                "forfallsdato",
                "kid",
                "belop_ore",
                "warnings",
                "checked_at",
            ],
        )
        stored += len(objs)
    if actor is not None:
        audit("visma.status_refreshed", actor=actor, municipality=municipality, count=stored)
    return stored


def _status_row(basis_id: int, total: int, result: StatusResult, now: Any) -> BasisVismaStatus:
    warnings: list[str] = []
    if result.tilstand not in STORED:
        warnings.append(
            _("Visma oppgir tilstand %(t)s for et grunnlag som er registrert som sendt.")
            % {"t": result.tilstand}
        )
        logger.warning("Visma reports %s for a sent basis (id %s)", result.tilstand, basis_id)
    if result.kid and not is_valid_kid(result.kid):
        warnings.append(_("KID fra Visma har feil kontrollsiffer: %(k)s") % {"k": result.kid})
        logger.warning("Visma returned an invalid KID for basis id %s", basis_id)
    if result.belop is not None and result.belop != total:
        warnings.append(
            _("Beløpet i Visma (%(v)s øre) er ikke grunnlagets sum (%(g)s øre).")
            % {"v": result.belop, "g": total}
        )
    return BasisVismaStatus(
        basis_id=basis_id,
        tilstand=result.tilstand,
        grunnlag_id=result.grunnlag_id,
        fakturanummer=result.fakturanummer,
        fakturadato=result.fakturadato,
        forfallsdato=result.forfallsdato,
        kid=result.kid[:25],
        belop_ore=result.belop,
        warnings=warnings,
        checked_at=now,
    )


def status_refresh_for(municipality_id: int | None = None) -> int:
    """Refresh one municipality (the button) or, with None, every municipality with an enabled
    integration (periodic); one failing municipality does not stop the others."""
    total = 0
    enabled = VismaSettings.objects.filter(enabled=True).select_related("municipality")
    if municipality_id is not None:
        enabled = enabled.filter(municipality_id=municipality_id)
    for vs in enabled:
        try:
            total += status_refresh(vs.municipality)
        except (VismaError, TransferError, SecretUnreadable) as exc:
            logger.warning(
                "Visma status refresh failed for %s: %s",
                vs.municipality.number,
                getattr(exc, "message", type(exc).__name__),
            )
    return total


# --- reading helpers for pages ------------------------------------------------------------------


def transfer_counts(transfer: Transfer) -> dict[str, int]:
    """Attempts per state right now (the progress bar)."""
    return dict(
        transfer.attempts.order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )


def period_send_summary(municipality: Municipality, period: str) -> dict[str, int]:
    row = sendable_bases(municipality, period).aggregate(
        count=Count("pk"), total=Coalesce(Sum("total_ore"), 0)
    )
    return {"count": row["count"] or 0, "total_ore": row["total"] or 0}
