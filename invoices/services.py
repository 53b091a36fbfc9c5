"""Writes on invoice bases and API tokens. Views, commands and admin actions only call these.

Status transitions lock the rows they change (`select_for_update`), so a double click, two users or
an export running at the same moment cannot move a basis twice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, user_id, user_or_none
from core.db import among
from core.text import describe, forbidden_character

from . import anomalies, state, summaries
from .access import role_of
from .audit import audit, audit_changes

# Where they used to live; the credit notes have a module of their own now.
from .credit import CREDITABLE as CREDITABLE
from .credit import invoice_basis_credit as invoice_basis_credit
from .errors import BasisActionError
from .models import (
    AccountingSettings,
    ApiToken,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Role,
)
from .validation import (
    BasisReport,
    Catalogue,
    validate_stored,
)

# Marks our tokens in logs and secret scanners; not a secret itself.
TOKEN_PREFIX = "fgk_"  # noqa: S105
# A token used within this window is not written back again: a busy integration should not turn
# every request into an UPDATE.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Bounded batches keep memory flat and stay within every database's parameter limit.
BATCH = 5000


# --- API tokens ----------------------------------------------------------------------------------


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def api_token_create(municipality: Municipality, name: str, actor: Actor) -> tuple[ApiToken, str]:
    """A new token for `municipality`. The plaintext is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BasisActionError(_("Navnet må være 1–100 tegn"))
    bad = forbidden_character(name)
    if bad is not None:
        raise BasisActionError(
            _("Navnet inneholder et kontrolltegn (%(char)s), som ikke er tillatt")
            % {"char": describe(bad)}
        )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        municipality=municipality,
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:8],
        created_by_id=user_id(actor),
    )
    audit("api_token.create", actor=actor, municipality=municipality, obj=token, name=name)
    return token, plaintext


@transaction.atomic
def api_token_revoke(token: ApiToken, actor: Actor) -> None:
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        return
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    token.revoked_at = locked.revoked_at
    audit(
        "api_token.revoke",
        actor=actor,
        municipality=locked.municipality,
        obj=locked,
        name=locked.name,
    )


def api_token_authenticate(plaintext: str) -> ApiToken | None:
    """The active token with this plaintext, or None. Records when it was last used."""
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > 100:
        return None
    token = (
        ApiToken.objects.select_related("municipality")
        .filter(token_hash=hash_token(plaintext), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- accounting settings -----------------------------------------------------------------------


def accounting_settings_get(municipality: Municipality) -> AccountingSettings:
    """The municipality's accounting settings, created with the defaults on first use."""
    obj, _created = AccountingSettings.objects.get_or_create(municipality=municipality)
    return obj


ACCOUNTING_FIELDS = ("transfer_route", "default_oppdragsgiver", "kb_slots")


@transaction.atomic
def accounting_settings_update(
    municipality: Municipality, *, values: Mapping[str, Any], actor: Actor
) -> AccountingSettings:
    """Apply validated settings (systemadministrator only) and audit what changed."""
    if role_of(actor, municipality) != Role.SYSTEMADMINISTRATOR:
        raise BasisActionError(_("Bare systemadministrator kan endre regnskapsoppsettet."))
    unknown = set(values) - set(ACCOUNTING_FIELDS)
    if unknown:
        raise BasisActionError(_("Ukjente felter: %(f)s") % {"f": ", ".join(sorted(unknown))})
    accounting_settings_get(municipality)
    locked = AccountingSettings.objects.select_for_update().get(municipality=municipality)
    before = locked.snapshot()
    for name, value in values.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.updated_by = user_or_none(actor)
    locked.save()
    audit_changes(
        "accounting_settings.changed",
        actor=actor,
        municipality=municipality,
        obj=locked,
        before=before,
        after=locked.snapshot(),
    )
    return locked


# --- approval ------------------------------------------------------------------------------------


@dataclass
class ApprovalResult:
    approved_ids: list[int] = field(default_factory=list)
    invalid: list[BasisReport] = field(default_factory=list)
    warnings: int = 0  # bases approved with warnings (e.g. no postal address yet)
    total_ore: int = 0

    @property
    def approved(self) -> int:
        return len(self.approved_ids)


def _ids_and_municipality(
    bases: QuerySet[InvoiceBasis] | Iterable[InvoiceBasis],
) -> tuple[QuerySet[InvoiceBasis], Municipality | None]:
    if isinstance(bases, QuerySet):
        queryset = InvoiceBasis.objects.filter(pk__in=bases.values("pk"))
    else:
        queryset = InvoiceBasis.objects.filter(pk__in=[b.pk for b in bases])
    municipality_ids = set(queryset.order_by().values_list("municipality_id", flat=True).distinct())
    if len(municipality_ids) > 1:
        raise ValueError("bases from more than one municipality")
    if not municipality_ids:
        return queryset, None
    return queryset, Municipality.objects.get(pk=municipality_ids.pop())


@transaction.atomic
def invoice_basis_approve(
    bases: QuerySet[InvoiceBasis] | Iterable[InvoiceBasis], actor: Actor
) -> ApprovalResult:
    """Approve the *received* bases among `bases` that pass validation.

    Bases in other states are left alone. Blocking errors keep a basis received and come back in
    `invalid`; warnings (no postal address, zero total) do not block approval, because only the
    export format knows whether it needs the address, and the export validates it again.
    """
    queryset, municipality = _ids_and_municipality(bases)
    result = ApprovalResult()
    if municipality is None:
        return result
    ids = list(
        queryset.select_for_update()
        .filter(status=BasisStatus.RECEIVED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    catalogue = Catalogue.load(municipality)
    now = timezone.now()
    user = user_or_none(actor)
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        reports = validate_stored(
            municipality,
            InvoiceBasis.objects.filter(among("id", batch)),
            catalogue=catalogue,
        )
        good = []
        for pk in batch:
            report = reports.get(pk)
            if report is None:
                continue
            if report.blocking:
                result.invalid.append(report)
            else:
                good.append(pk)
                result.warnings += bool(report.warnings)
                result.total_ore += report.total_ore
        if good:
            state.approve(good, by=user, at=now)
            result.approved_ids.extend(good)
    if result.approved_ids or result.invalid:
        audit(
            "invoice_basis.approve",
            actor=actor,
            municipality=municipality,
            approved=result.approved,
            total_ore=result.total_ore,
            invalid=len(result.invalid),
            basis_ids=result.approved_ids,
            bases=result.approved_ids,
        )
    return result


@transaction.atomic
def invoice_basis_unapprove(
    bases: QuerySet[InvoiceBasis] | Iterable[InvoiceBasis], actor: Actor
) -> int:
    """Withdraw approval (→ received) for bases not yet exported or sent, so they can be corrected.

    Also takes back a *failed* basis, but only one the receiver refused (`refused_by_receiver`,
    set by the channel: it stored nothing). A basis that failed for any other reason may have
    reached the receiver and is sent again from its transfer instead."""
    queryset, municipality = _ids_and_municipality(bases)
    if municipality is None:
        return 0
    withdrawable = queryset.select_for_update().filter(
        Q(status=BasisStatus.APPROVED) | Q(status=BasisStatus.FAILED, refused_by_receiver=True)
    )
    ids = sorted(withdrawable.values_list("pk", flat=True))
    state.take_back(ids)
    if ids:
        audit(
            "invoice_basis.unapprove",
            actor=actor,
            municipality=municipality,
            count=len(ids),
            basis_ids=ids,
            bases=ids,
        )
    return len(ids)


@transaction.atomic
def invoice_basis_delete(basis: InvoiceBasis, actor: Actor) -> None:
    """Delete a basis that is still *received* (nothing has left the product)."""
    locked = InvoiceBasis.objects.select_for_update().get(pk=basis.pk)
    if locked.status != BasisStatus.RECEIVED:
        raise BasisActionError(_("Bare mottatte fakturagrunnlag kan slettes"))
    if locked.credit_notes.exists():
        raise BasisActionError(_("Grunnlaget har kreditnotaer og kan ikke slettes"))
    audit(
        "invoice_basis.delete",
        actor=actor,
        municipality=locked.municipality,
        obj=locked,
        source_reference=locked.source_reference,
        period=locked.period,
        total_ore=locked.total_ore,
    )
    summaries.remove([locked.pk])
    InvoiceLine.objects.filter(basis=locked).delete()
    locked.delete()
    anomalies.schedule_refresh(locked.municipality_id, [locked.period])
