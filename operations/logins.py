"""A failed login is a log line (the audit trail keeps its own record).

The username is logged only when it belongs to a user: what people type into the username field
is sometimes their password, and that must never reach a log.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed

logger = logging.getLogger("operations.security")


def _login_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    username = str(credentials.get("username") or "")
    User = get_user_model()
    if username and User._default_manager.filter(**{User.USERNAME_FIELD: username}).exists():
        logger.warning("login failed for user %s", username)
    else:
        logger.warning("login failed for a username that does not exist")


def connect_signals() -> None:
    user_login_failed.connect(_login_failed, dispatch_uid="operations.login_failed")
