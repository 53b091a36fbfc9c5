"""Audit trail: one helper, so every service records events the same way."""

from __future__ import annotations

from typing import Any

from django.db import models

from core.actors import Actor, user_or_none

from .models import AuditEvent, Municipality


def audit(
    action: str,
    *,
    actor: Actor,
    municipality: Municipality | None,
    obj: models.Model | None = None,
    **data: Any,
) -> AuditEvent:
    """Record who did what. Callers must never pass secrets in `data`."""
    user = user_or_none(actor)
    return AuditEvent.objects.create(
        municipality=municipality,
        actor_id=user.pk if user is not None else None,
        actor_label=user.get_username() if user is not None else "system",
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )
