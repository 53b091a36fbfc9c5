"""`POST /api/v1/invoice-bases`: the care system's way in (spec/intake.md).

When several answers apply, the first of 401, 403, 415, 413, 400 wins. 403 depends on the
document's `municipality`, so it is decided from the body whenever the body can be read and
parsed; a body too large to read is 413 (or 415) without looking inside. Every answer carries
`{"errors": [...]}`; the plain ones (401, 403, 413, 415, bad JSON) also a `detail` sentence.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .intake import IntakeError, find_municipality, intake_document
from .models import ApiToken
from .services import api_token_authenticate
from .validation import Issue

logger = logging.getLogger(__name__)

_NOT_PARSED = object()


def _plain(status: int, code: str, message: str, field: str = "") -> JsonResponse:
    issue = Issue(code, message, field)
    response = JsonResponse({"detail": message, "errors": [issue.as_dict()]}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def _token(request: HttpRequest) -> ApiToken | None:
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "token" or not value.strip():
        return None
    return api_token_authenticate(value.strip())


def _is_json(request: HttpRequest) -> bool:
    if (request.content_type or "").lower() != "application/json":
        return False
    params = {
        k.lower(): v.strip().strip('"').lower() for k, v in (request.content_params or {}).items()
    }
    return params in ({}, {"charset": "utf-8"})


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit: by Content-Length, or by what arrives."""
    limit = settings.INTAKE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(body: bytes) -> tuple[Any, str]:
    """(document, "") or (_NOT_PARSED, a Bokmål reason)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _NOT_PARSED, _("Innholdet er ikke gyldig UTF-8")
    try:
        return json.loads(text, parse_constant=_reject_constant), ""
    except json.JSONDecodeError as exc:
        return _NOT_PARSED, _("Ugyldig JSON (linje %(line)d, kolonne %(col)d): %(msg)s") % {
            "line": exc.lineno,
            "col": exc.colno,
            "msg": exc.msg,
        }
    except (ValueError, RecursionError):
        return _NOT_PARSED, _("Ugyldig JSON")


@csrf_exempt
@require_POST
def invoice_bases(request: HttpRequest) -> JsonResponse:
    # The contract's messages are Bokmål, whatever language a client's cookie or header asks for.
    with translation.override("nb"):
        return _invoice_bases(request)


def _invoice_bases(request: HttpRequest) -> JsonResponse:
    token = _token(request)
    if token is None:
        return _plain(401, "unauthorized", _("Mangler eller ugyldig API-nøkkel"))

    body = _read_body(request)
    document, parse_error = _parse(body) if body is not None else (_NOT_PARSED, "")
    if document is not _NOT_PARSED:
        try:
            municipality = find_municipality(document)
        except IntakeError:
            municipality = None  # answered as 400 below, after 415 and 413
        if municipality is not None and municipality.pk != token.municipality_id:
            return _plain(
                403,
                "forbidden_municipality",
                _("API-nøkkelen gjelder ikke for kommune %(number)s")
                % {"number": municipality.number},
                "municipality",
            )
    if not _is_json(request):
        return _plain(
            415,
            "unsupported_media_type",
            _("Content-Type må være application/json (eventuelt med charset=utf-8)"),
        )
    if body is None:
        return _plain(
            413,
            "payload_too_large",
            _("Innholdet er større enn %(mb)d MB")
            % {"mb": settings.INTAKE_MAX_BODY_BYTES // (1024 * 1024)},
        )
    if document is _NOT_PARSED:
        return _plain(400, "malformed_json", parse_error)

    try:
        result = intake_document(document, token=token)
    except IntakeError as exc:
        logger.info(
            "intake via token %s refused with %d: %d error(s)",
            token.prefix,
            exc.status,
            len(exc.errors),
        )
        payload: dict[str, Any] = {"errors": [e.as_dict() for e in exc.errors]}
        if exc.status == 409:
            payload["conflicts"] = [e.source_reference for e in exc.errors]
        return JsonResponse(payload, status=exc.status)
    except OperationalError:
        # Lock timeouts and lost connections: nothing was stored, and a retry is safe.
        logger.warning("intake via token %s hit a database error", token.prefix, exc_info=True)
        response = _plain(503, "unavailable", _("Databasen er opptatt; prøv igjen om litt"))
        response["Retry-After"] = "30"
        return response
    logger.info(
        "intake via token %s for %s: %s",
        token.prefix,
        token.municipality.number,
        result.as_response(),
    )
    return JsonResponse(result.as_response(), status=201)
