"""A clerk's acknowledgement of a warning: it stays visible, quieted, with the note and who/when."""

from __future__ import annotations

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
    locked.acknowledged_at = timezone.now()
    locked.acknowledged_by = user_or_none(actor)
    locked.acknowledged_note = note
    locked.acknowledged_figures = locked.figures
    locked.save(
        update_fields=[
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_note",
            "acknowledged_figures",
        ]
    )
    audit(
        "anomaly.acknowledge",
        actor=actor,
        municipality=locked.municipality,
        obj=locked,
        period=locked.period,
        kind=locked.kind,
        subject_key=locked.subject_key,
        note=note,
    )
    return locked


@transaction.atomic
def anomaly_unacknowledge(anomaly: Anomaly, actor: Actor) -> Anomaly:
    _check_role(anomaly, actor)
    locked = Anomaly.objects.select_for_update().get(pk=anomaly.pk)
    if not locked.acknowledged:
        raise AnomalyError(_("Varselet er ikke kvittert ut."))
    note = locked.acknowledged_note
    locked.acknowledged_at = None
    locked.acknowledged_by = None
    locked.acknowledged_note = ""
    locked.acknowledged_figures = None
    locked.save(
        update_fields=[
            "acknowledged_at",
            "acknowledged_by",
            "acknowledged_note",
            "acknowledged_figures",
        ]
    )
    audit(
        "anomaly.unacknowledge",
        actor=actor,
        municipality=locked.municipality,
        obj=locked,
        period=locked.period,
        kind=locked.kind,
        subject_key=locked.subject_key,
        note_was=note,
    )
    return locked
