"""Login throttling with django-axes, fitted to the product (settings in aidn_billing/settings.py,
reasons in docs/security.md).

- `AuditedAxesHandler` keeps axes's database bookkeeping and writes each failed login, each
  lockout and each lock that ran out into the audit trail.
- `lockout_response` is the 429 page: the same words whether or not the username exists.
- The address a lock is tied to comes from `addresses.client_ip`.
"""

from __future__ import annotations

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.template import loader

from .events import record


class AuditedAxesHandler(AxesDatabaseHandler):
    def user_login_failed(
        self, sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        # Before axes counts the failure, `axes_locked_out` says whether the backend refused the
        # attempt because of an existing lock (then it is not counted, and the lock is not
        # prolonged: AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off).
        refused = bool(getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None:
            return
        username = get_client_username(request, credentials)
        record(
            "auth.login_failed",
            username,
            request,
            reason="locked" if refused else "credentials",
        )
        if not refused and getattr(request, "axes_locked_out", False):
            record(
                "auth.locked",
                username,
                request,
                failures=getattr(request, "axes_failures_since_start", None),
                minutes=settings.LOGIN_LOCKOUT_MINUTES,
            )

    def clean_expired_user_attempts(
        self, request: HttpRequest | None = None, credentials: dict | None = None
    ) -> int:
        """Axes forgets failures older than the lockout at the next login activity; a lock among
        them ended by time, and that is written down before it is forgotten."""
        if request is not None and settings.AXES_COOLOFF_TIME is not None:
            expired = (
                AccessAttempt.objects.filter(attempt_time__lte=get_cool_off_threshold(request))
                .values("username", "ip_address")
                .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
                .filter(failures__gte=get_failure_limit(request, credentials))
                .order_by("username", "ip_address")
            )
            for lock in expired:
                record(
                    "auth.lock_expired",
                    lock["username"],
                    None,
                    ip=lock["ip_address"],
                    locked_at=lock["last"].isoformat(),
                )
        return super().clean_expired_user_attempts(request, credentials)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """429 in the product's look. It never names the username, nor says whether it exists: the
    lock is kept for any username tried, so the page is the same for all."""
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else settings.LOGIN_LOCKOUT_MINUTES
    html = loader.render_to_string("429.html", {"minutes": minutes}, request)
    return HttpResponse(html, status=429)


# Longer than any username Django stores: nobody can log in with more, so nothing more is kept.
USERNAME_LIMIT = 150


def client_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The username a lock is kept under: what was typed, without control characters (no
    database stores a NUL) and cut to the longest username there can be, so a 10 000-character
    guess is a failed login like any other, not a database error."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username", "")
    text = "".join(ch for ch in str(raw) if ch.isprintable())
    return text[:USERNAME_LIMIT]
