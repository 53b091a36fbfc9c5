"""Changing a municipality's thresholds: stored, audited, and every computed month computed
again with them. Apart from `thresholds.py`, which only reads them, because computing
(`recompute`) reads the thresholds and a change of them schedules computing."""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils.translation import gettext as _

from core.actors import Actor, user_or_none

from ..access import ADMIN_ROLES, role_of
from ..audit import audit_changes
from ..models import AnomalyRun, AnomalySettings, Municipality
from .recompute import schedule_refresh
from .thresholds import FIELDS, AnomalyError


@transaction.atomic
def anomaly_settings_update(
    municipality: Municipality, *, values: Mapping[str, int], actor: Actor
) -> AnomalySettings:
    """Store new thresholds (systemadministrator only), audit before and after, and have every
    computed month computed again with them."""
    if role_of(actor, municipality) not in ADMIN_ROLES:
        raise AnomalyError(_("Bare systemadministrator kan endre tersklene for avviksvarsler."))
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise AnomalyError(_("Ukjente felter: %(f)s") % {"f": ", ".join(sorted(unknown))})
    AnomalySettings.objects.get_or_create(municipality=municipality)
    locked = AnomalySettings.objects.select_for_update().get(municipality=municipality)
    before = locked.snapshot()
    for name, value in values.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.updated_by = user_or_none(actor)
    locked.save()
    changes = audit_changes(
        "anomaly_settings.changed",
        actor=actor,
        municipality=municipality,
        obj=locked,
        before=before,
        after=locked.snapshot(),
    )
    if changes:
        schedule_refresh(
            municipality.pk,
            AnomalyRun.objects.filter(municipality=municipality).values_list("period", flat=True),
        )
    return locked
