"""Logins in the product's audit trail (`invoices.audit.audit`): who tried, from where, and what
came of it. A password never gets here: Django hands the receivers credentials with the password
already blanked, and only the username is taken from them.

An event belongs to each municipality the named user is a member of, so each municipality's trail
shows what happened to its own users; an attempt for a username nobody has belongs to none (the
operators see it).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from core.actors import Actor
from invoices.audit import audit
from invoices.models import Municipality

from .addresses import client_ip

# Enough for any real username; a hostile one is cut, not stored whole.
USERNAME_CHARS = 150


def _municipalities(username: str) -> list[Municipality | None]:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return [None]
    found = list(Municipality.objects.filter(memberships__user=user).order_by("number"))
    return list(found) or [None]


def request_facts(request: HttpRequest | None) -> dict[str, Any]:
    if request is None:
        return {}
    return {
        "ip": client_ip(request),
        "path": request.path,
    }


def record(
    action: str,
    username: str | None,
    request: HttpRequest | None,
    *,
    actor: Actor = None,
    **data: Any,
) -> None:
    """One audit event per municipality of `username` (or one with none)."""
    name = (username or "")[:USERNAME_CHARS]
    for municipality in _municipalities(name):
        audit(
            action,
            actor=actor,
            municipality=municipality,
            username=name,
            **request_facts(request),
            **data,
        )
