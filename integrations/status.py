"""Status read-back: what Visma says about sent bases (HentStatus) — invoice number, dates, KID,
amount — kept per basis, with a warning where it disagrees with what was sent."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from invoices.audit import audit
from invoices.identifiers import is_valid_kid
from invoices.models import Municipality

from . import services
from .crypto import SecretUnreadable
from .models import (
    AttemptState,
    BasisVismaStatus,
    TransferAttempt,
    VismaSettings,
)
from .outcome import STORED
from .visma.contract import MAX_REFERANSER_PER_STATUS as STATUS_CHUNK
from .visma.errors import (
    VismaError,
)
from .visma.types import StatusResult

logger = logging.getLogger(__name__)


def status_refresh(municipality: Municipality, *, actor: Actor = None, limit: int = 5000) -> int:
    """Ask HentStatus about sent bases not yet invoiced; store invoice number, dates, KID and
    amount. An invalid KID or a differing amount is kept as a warning on the basis."""
    vs = services.usable_settings(municipality)
    rows = list(
        TransferAttempt.objects.filter(
            transfer__municipality=municipality, is_test=False, state=AttemptState.SENT
        )
        .exclude(basis__visma_status__tilstand="FAKTURERT")
        .order_by("pk")
        .values_list("basis_id", "reference", "basis__total_ore")[:limit]
    )
    client = services.client_for(vs)
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
        except (VismaError, services.TransferError, SecretUnreadable) as exc:
            logger.warning(
                "Visma status refresh failed for %s: %s",
                vs.municipality.number,
                getattr(exc, "message", type(exc).__name__),
            )
    return total
