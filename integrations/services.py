"""Writes of the Visma integration that people start: the settings, *Test tilkobling*, and
starting or retrying a transfer. What the workers then do is `delivery.py` (the protocol of
visma-ws.md), how they are woken `wakeup.py`, the status read-back `status.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, user_or_none
from invoices import state
from invoices.audit import audit
from invoices.models import (
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Service,
    Unit,
    basis_reference,
)

from . import wakeup
from .crypto import SecretUnreadable
from .models import (
    AttemptState,
    Transfer,
    TransferAttempt,
    VismaSettings,
)
from .visma.errors import (
    AuthenticationFailed,
    ClientFault,
    TlsError,
    VismaError,
)

logger = logging.getLogger(__name__)


MAX_TEST_BASES = 20


class TransferError(Exception):
    """A transfer cannot start (or retry) as asked; `message` is Bokmål for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
        result = client_for(obj).ping(obj.selskap)
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


def client_for(obj: VismaSettings) -> Any:
    # Looked up at call time so that tests and benchmarks can count or wrap calls.
    from .visma.client import get_client

    return get_client(
        obj.base_url,
        obj.username,
        obj.get_password(),
        connect_timeout=float(settings.VISMA_CONNECT_TIMEOUT),
        read_timeout=float(settings.VISMA_READ_TIMEOUT),
    )


def usable_settings(municipality: Municipality) -> VismaSettings:
    obj = visma_settings_for(municipality)
    if obj is None or not obj.enabled or not obj.has_password:
        raise TransferError(
            _(
                "Integrasjonen til Visma er ikke aktivert for kommunen. Systemadministrator må "
                "sette den opp under Administrasjon → Integrasjon til fakturering i Visma."
            )
        )
    return obj


def transfer_start(
    municipality: Municipality,
    *,
    period: str | None = None,
    basis_ids: Sequence[int] | None = None,
    unit: Unit | None = None,
    service: Service | None = None,
    actor: Actor,
    test: bool = False,
) -> Transfer:
    """Create a transfer of the approved bases of `period` (and/or exactly `basis_ids`), of
    `unit` and with a line of `service` when given (the list's filters).

    Real transfers lock the bases (→ *sending*) in the same transaction that writes the outbox, so
    a double click or two users at once cannot give a basis two live attempts: the second start
    finds nothing approved left (or trips the partial unique index) and is refused. Test transfers
    (at most 20 chosen bases, `testmodus=true`) lock nothing.
    """
    usable_settings(municipality)
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
                municipality,
                _Wanted(period, basis_ids, unit, service),
                actor=actor,
                test=test,
            )
    except IntegrityError as exc:
        # Another start took some of these bases between our read and our insert.
        raise TransferError(
            _("Noen av grunnlagene sendes allerede. Last siden på nytt og prøv igjen.")
        ) from exc
    return transfer


@dataclass(frozen=True)
class _Wanted:
    """What a transfer is asked to take: a period, explicit bases, a unit, a service."""

    period: str | None
    basis_ids: Sequence[int] | None
    unit: Unit | None = None
    service: Service | None = None


def _selected(municipality: Municipality, wanted: _Wanted) -> Any:
    qs = InvoiceBasis.objects.filter(municipality=municipality, status=BasisStatus.APPROVED)
    if wanted.period:
        qs = qs.filter(period=wanted.period)
    if wanted.basis_ids is not None:
        qs = qs.filter(pk__in=list(wanted.basis_ids))
    if wanted.unit is not None:
        qs = qs.filter(unit=wanted.unit)
    if wanted.service is not None:
        qs = qs.filter(pk__in=InvoiceLine.objects.filter(service=wanted.service).values("basis_id"))
    return qs


def _create_transfer(
    municipality: Municipality, wanted: _Wanted, *, actor: Actor, test: bool
) -> Transfer:
    for chosen in (wanted.unit, wanted.service):
        if chosen is not None and chosen.municipality_id != municipality.pk:
            raise TransferError(_("Ukjent enhet eller tjeneste."))
    qs = _selected(municipality, wanted)
    if not test:
        qs = qs.select_for_update()
    rows = list(qs.order_by("pk").values_list("pk", "total_ore"))
    if not rows:
        raise TransferError(_("Det er ingen godkjente grunnlag å sende i dette utvalget."))
    basis_ids = wanted.basis_ids
    if test and basis_ids is not None and len(rows) != len(set(basis_ids)):
        raise TransferError(_("Bare godkjente grunnlag kan tas med i en testoverføring."))
    transfer = Transfer.objects.create(
        municipality=municipality,
        created_by=user_or_none(actor),
        is_test=test,
        period=wanted.period or "",
        unit=wanted.unit,
        service=wanted.service,
        is_selection=basis_ids is not None,
        basis_count=len(rows),
        total_ore=sum(t for _, t in rows),
        counts={AttemptState.PENDING.value: len(rows)},
    )
    inserted = _insert_attempts(transfer, _selected(municipality, wanted))
    if inserted != len(rows):  # pragma: no cover - the rows are locked; a mismatch is a bug
        raise IntegrityError("the selection changed while the outbox was written")
    if not test:
        moved = state.mark_sending(_selected(municipality, wanted))
        if moved != len(rows):  # pragma: no cover - rows are locked; a mismatch is a bug
            raise IntegrityError("approved bases changed while locked")
    audit(
        "visma.transfer_started",
        actor=actor,
        municipality=municipality,
        obj=transfer,
        test=test,
        period=transfer.period,
        unit=wanted.unit.code if wanted.unit else "",
        service=wanted.service.code if wanted.service else "",
        count=transfer.basis_count,
        total_ore=transfer.total_ore,
    )
    wakeup.wake_after_commit(transfer)
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
    usable_settings(transfer.municipality)
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
    wakeup.wake_after_commit(transfer)
    return transfer
