"""Two middlewares that come first in MIDDLEWARE: the request id, and the health probes.

`RequestIdMiddleware` takes the proxy's `X-Request-ID` when it is well formed (else makes one),
puts it on every log line of the request (`core.logs`) and echoes it in the response, so a line in
the proxy's log and a line in ours can be matched.

`HealthCheckMiddleware` answers `/health/live` and `/health/ready` before anything else runs: no
host check (a load balancer probes each backend by its address), no HTTPS redirect (it probes
over plain HTTP inside the network), no session, no login.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.logs import clear_log_context, set_log_context

from . import health

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")


def request_id_from(value: str) -> str:
    """The proxy's id if it is 8–128 safe characters, else a new one (32 hex digits)."""
    return value if _REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs a 4xx/5xx after the middlewares have returned.
        # request_finished clears it.
        clear_log_context()
        set_log_context(request_id=request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _clear(**kwargs: Any) -> None:
    clear_log_context()


def connect_signals() -> None:
    request_finished.connect(_clear, dispatch_uid="operations.request_id.clear")


def _json(data: dict[str, Any], status: int) -> HttpResponse:
    response = JsonResponse(data, status=status)
    response["Cache-Control"] = "no-store"
    # Probes come every few seconds: Django would log each 503 as an error. `ready` logs the
    # changes instead.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


_last_failing: list[str] | None = None


def live(request: HttpRequest) -> HttpResponse:
    """The process answers. Touches nothing else, so a database outage never restarts it."""
    return _json({"status": "ok"}, 200)


def ready(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, else 503. `?check=database&check=disk` runs only those."""
    names = request.GET.getlist("check")
    unknown = sorted(set(names) - set(health.CHECKS))
    if unknown:
        return _json({"status": "bad_request", "unknown_checks": unknown}, 400)
    ok, report = health.readiness(names)
    if not names:
        _log_change([name for name, r in report["checks"].items() if not r["ok"]])
    return _json(report, 200 if ok else 503)


def _log_change(failing: list[str]) -> None:
    """One line when readiness changes in this process, not one per probe."""
    global _last_failing
    if failing == _last_failing:
        return
    if failing:
        logger.warning("not ready: %s", ", ".join(failing))
    elif _last_failing is not None:
        logger.info("ready again")
    _last_failing = failing


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health/live": live,
    "/health/ready": ready,
}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info.rstrip("/"))
        if probe is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = _json({"status": "method_not_allowed"}, 405)
            response["Allow"] = "GET, HEAD"
            return response
        return probe(request)
