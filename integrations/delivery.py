"""The delivery protocol of visma-ws.md: what the workers and the sweeper do with a transfer.

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

Why one module of about 610 lines: the protocol's steps are one state machine and read in one
place; what a batch ended in is written by `outcome.py`, the wake-ups are in `wakeup.py` and the
read-back of invoice numbers in `status.py`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from invoices import state
from invoices.audit import audit

from . import services, wakeup
from .crypto import SecretUnreadable
from .models import (
    ACTIVE_TRANSFER_STATUSES,
    CLAIMABLE_STATES,
    LIVE_STATES,
    AttemptState,
    Transfer,
    TransferAttempt,
    TransferStatus,
    VismaSettings,
)
from .outcome import STORED, Outcome, backoff_seconds, write_outcome
from .visma import mapping
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
            wakeup.enqueue_send(transfer_id)
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
        wakeup.batch_size(),
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


def _deliver(claim: _Claim) -> None:
    outcome = Outcome()
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


def _deliver_into(claim: _Claim, outcome: Outcome) -> None:
    vs = services.visma_settings_for(claim.transfer.municipality)
    if vs is None or not vs.enabled:
        raise _StopRun(_("Integrasjonen til Visma er slått av."), "DEAKTIVERT")
    try:
        client = services.client_for(vs)
    except SecretUnreadable as exc:
        raise _StopRun(str(exc), "NOKKEL") from None
    except VismaError as exc:
        raise _StopRun(services.explain(exc, selskap=vs.selskap), exc.code) from None

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
    client: Any, vs: VismaSettings, uncertain: list[TransferAttempt], outcome: Outcome
) -> list[TransferAttempt]:
    """HentStatus for attempts that may be stored; returns those Visma does not have."""
    try:
        statuses: list[StatusResult] = client.status(vs.selskap, [a.reference for a in uncertain])
    except VismaError as exc:
        if _stops_run(exc):
            raise _StopRun(services.explain(exc, selskap=vs.selskap), exc.code) from None
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
    outcome: Outcome,
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
    outcome: Outcome,
    buntreferanse: str,
    exc: VismaError,
) -> None:
    if _stops_run(exc):
        raise _StopRun(services.explain(exc, selskap=vs.selskap), exc.code or type(exc).__name__)
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


def _record(claim: _Claim, outcome: Outcome) -> None:
    """Write what the claim ended in, with the bases' new statuses, in one transaction."""
    rows = [a for a in claim.attempts if not a.claimed_by]  # decided (undecided stay leased)
    with transaction.atomic():
        write_outcome(rows, claim.token)
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
        wakeup.enqueue_send(transfer_id, countdown=wait or None)


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
        wakeup.enqueue_send(transfer_id)
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
    outcome = Outcome()
    try:
        _deliver_into(claim, outcome)
    except _StopRun as stop:
        for a in claim.attempts:
            if a.claimed_by:
                outcome.unknown(a, stop.message)
    _record(claim, outcome)
    return len(claim.attempts)
