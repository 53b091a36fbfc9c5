"""Audit trail: one helper, so every service records events the same way.

An event names at most one object (`obj`); the bases it concerns are linked as well
(`AuditedBasis`), so that each basis's story is one indexed read: a basis given as `obj` is
linked by itself, and an event about many bases (an intake, an approval) names them in `bases`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import models

from core.actors import Actor, user_or_none
from core.bulk import insert_rows

from .models import AuditedBasis, AuditEvent, InvoiceBasis, Municipality


def audit(
    action: str,
    *,
    actor: Actor,
    municipality: Municipality | None,
    obj: models.Model | None = None,
    bases: Iterable[int] = (),
    **data: Any,
) -> AuditEvent:
    """Record who did what. Callers must never pass secrets in `data`."""
    event = AuditEvent.objects.create(
        **_who(action, actor, municipality),
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )
    link(event.pk, _basis_ids(obj, bases))
    return event


def audit_changes(
    action: str,
    *,
    actor: Actor,
    municipality: Municipality | None,
    obj: models.Model,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Record a settings change as the fields that changed, each with its value before and after;
    nothing when none did. Returns the changes."""
    changes = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    if changes:
        audit(action, actor=actor, municipality=municipality, obj=obj, changes=changes)
    return changes


def audit_each(
    action: str,
    *,
    actor: Actor,
    municipality: Municipality | None,
    bases: Sequence[tuple[int, dict[str, Any]]],
) -> list[AuditEvent]:
    """One event per basis (`(basis id, data)`), each linked to its basis: two statements for
    any number of them."""
    if not bases:
        return []
    who = _who(action, actor, municipality)
    label = InvoiceBasis._meta.label
    events = AuditEvent.objects.bulk_create(
        [AuditEvent(**who, object_type=label, object_id=str(pk), data=data) for pk, data in bases]
    )
    insert_rows(
        AuditedBasis,
        ("event_id", "basis_id"),
        [(event.pk, pk) for event, (pk, _data) in zip(events, bases, strict=True)],
    )
    return events


def link(event_id: int, basis_ids: Iterable[int]) -> None:
    """Name the bases an event concerns (one statement, whatever their number)."""
    rows = [(event_id, pk) for pk in sorted(set(basis_ids))]
    if rows:
        insert_rows(AuditedBasis, ("event_id", "basis_id"), rows)


def _who(action: str, actor: Actor, municipality: Municipality | None) -> dict[str, Any]:
    user = user_or_none(actor)
    return {
        "municipality": municipality,
        "actor_id": user.pk if user is not None else None,
        "actor_label": user.get_username() if user is not None else "system",
        "action": action,
    }


def _basis_ids(obj: models.Model | None, bases: Iterable[int]) -> list[int]:
    ids = list(bases)
    if isinstance(obj, InvoiceBasis) and obj.pk is not None:
        ids.append(obj.pk)
    return ids
