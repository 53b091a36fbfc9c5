"""Who is locked out, and unlocking them: the systemadministrator's side of login throttling,
always within the administrator's own municipality."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, Sum
from django.utils import timezone

from core.actors import Actor
from invoices.audit import audit
from invoices.models import Municipality


@dataclass
class LockedAccount:
    user: AbstractBaseUser
    addresses: list[str] = field(default_factory=list)
    locked_until: datetime | None = None


def locked_accounts(municipality: Municipality) -> list[LockedAccount]:
    """The municipality's users that are locked out from some address right now."""
    members = {
        u.get_username(): u
        for u in get_user_model().objects.filter(memberships__municipality=municipality)
    }
    locks = (
        AccessAttempt.objects.filter(
            username__in=list(members),
            attempt_time__gt=timezone.now() - settings.AXES_COOLOFF_TIME,
        )
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .order_by("username", "ip_address")
    )
    found: dict[str, LockedAccount] = {}
    for lock in locks:
        account = found.setdefault(lock["username"], LockedAccount(members[lock["username"]]))
        account.addresses.append(lock["ip_address"] or "?")
        until = lock["last"] + settings.AXES_COOLOFF_TIME
        account.locked_until = max(account.locked_until or until, until)
    return list(found.values())


def account_unlock(user: AbstractBaseUser, municipality: Municipality, actor: Actor) -> int:
    """Forget every failed login of `user` (from every address). The caller has checked that the
    user is a member of `municipality`. Audited when there was something to forget."""
    username = user.get_username()
    count = reset(username=username)
    if count:
        audit(
            "auth.unlocked",
            actor=actor,
            municipality=municipality,
            obj=None,
            username=username,
            attempts=count,
        )
    return count
