"""The address a login comes from: what a lock is tied to and what the audit trail records."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind LOGIN_TRUSTED_PROXIES proxies the address the outermost of them
    saw: the n-th from the right in X-Forwarded-For (each proxy appends the address it saw, so
    entries further left are the client's own word). Anything that is not an address falls back
    to REMOTE_ADDR."""
    remote = _address(request.META.get("REMOTE_ADDR", "") or "")
    proxies = settings.LOGIN_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [p for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if len(forwarded) < proxies:
        return remote
    return _address(forwarded[-proxies]) or remote
