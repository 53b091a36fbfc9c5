"""Successful logins and logouts into the audit trail. Failed logins, lockouts and their end are
recorded by the throttling handler (`throttle.py`), which knows whether an attempt was refused
because of a lock."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .events import record


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("auth.login", user.get_username(), request, actor=user)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:  # a logout without a session has no one to name
        record("auth.logout", user.get_username(), request, actor=user)
