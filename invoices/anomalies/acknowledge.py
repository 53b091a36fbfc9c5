"""A clerk's acknowledgement of a warning: it stays visible, quieted, with the note and who/when."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, user_or_none

from ..access import BILLING_ROLES, role_of
from ..audit import audit
from ..models import Anomaly
from .thresholds import AnomalyError

NOTE_MAX = 500


def _check_role(anomaly: Anomaly, actor: Actor) -> None:
    if role_of(actor, anomaly.municipality) not in BILLING_ROLES:
        raise AnomalyError(_("Bare merkantil og superbruker kan kvittere ut avviksvarsler."))


@transaction.atomic
def anomaly_acknowledge(anomaly: Anomaly, note: str, actor: Actor) -> Anomaly:
    _check_role(anomaly, actor)
    note = (note or "").strip()
    if not note:
        raise AnomalyError(_("Skriv en merknad om hvorfor varselet er i orden."))
    if len(note) > NOTE_MAX:
        raise AnomalyError(
            _("Merknaden kan være høyst %(max)d tegn, den er %(n)d.")
            % {"max": NOTE_MAX, "n": len(note)}
        )
    locked = Anomaly.objects.select_for_update().get(pk=anomaly.pk)
    if locked.acknowledged:
        raise AnomalyError(_("Varselet er allerede kvittert ut."))
    return _store(
        locked,
        "anomaly.acknowledge",
        actor,
        values=(timezone.now(), user_or_none(actor), note, locked.figures),
        note=note,
    )


@transaction.atomic
def anomaly_unacknowledge(anomaly: Anomaly, actor: Actor) -> Anomaly:
    _check_role(anomaly, actor)
    locked = Anomaly.objects.select_for_update().get(pk=anomaly.pk)
    if not locked.acknowledged:
        raise AnomalyError(_("Varselet er ikke kvittert ut."))
    return _store(
        locked,
        "anomaly.unacknowledge",
        actor,
        values=(None, None, "", None),
        note_was=locked.acknowledged_note,
    )


_FIELDS = ("acknowledged_at", "acknowledged_by", "acknowledged_note", "acknowledged_figures")


def _store(
    locked: Anomaly, action: str, actor: Actor, *, values: tuple[Any, ...], **data: Any
) -> Anomaly:
    """Set (or clear) the acknowledgement fields and audit the change with `data`."""
    for name, value in zip(_FIELDS, values, strict=True):
        setattr(locked, name, value)
    locked.save(update_fields=list(_FIELDS))
    audit(
        action,
        actor=actor,
        municipality=locked.municipality,
        obj=locked,
        period=locked.period,
        kind=locked.kind,
        subject_key=locked.subject_key,
        **data,
    )
    return locked
