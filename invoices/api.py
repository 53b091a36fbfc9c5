"""`POST /api/v1/invoice-bases`: the care system's way in (spec/intake.md).

When several answers apply, the first of 401, 403, 415, 413, 400 wins. 403 depends on the
document's `municipality`, so it is decided from the body whenever the body can be read and
parsed; a body too large to read is 413 (or 415) without looking inside. Every answer that is not
a 201 carries `{"errors": [...]}`, 404 and 405 included; the plain ones (401, 403, 404, 405, 413,
415, bad JSON, keys twice) also a `detail` sentence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from core import jsonparse

from .intake import IntakeError, IntakeForbidden, intake_document, municipality_for_token
from .models import ApiToken
from .services import api_token_authenticate
from .validation import Issue, document_duplicate_issues

logger = logging.getLogger(__name__)

_NOT_PARSED = object()
_READ_SIZE = 1 << 16


def _errors(status: int, issues: list[Issue], detail: str = "") -> JsonResponse:
    payload: dict[str, Any] = {"errors": [issue.as_dict() for issue in issues]}
    if detail:
        payload = {"detail": detail, **payload}
    response = JsonResponse(payload, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def _plain(status: int, code: str, message: str, field: str = "") -> JsonResponse:
    return _errors(status, [Issue(code, message, field)], message)


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


def _read_up_to(read: Callable[[int], bytes], limit: int) -> bytes | None:
    """What `read` gives until it ends, or None as soon as that is more than `limit` bytes."""
    body = bytearray()
    while len(body) <= limit:
        piece = read(min(_READ_SIZE, limit + 1 - len(body)))
        if not piece:
            break
        body += piece
    return None if len(body) > limit else bytes(body)


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit: by Content-Length, or by what arrives.

    A chunked body has no Content-Length, and Django reads only as many bytes as that header
    says (none); the server that decoded the chunks marks its stream as ending by itself
    (`wsgi.input_terminated`, gunicorn does), so it is read to its end, with the same limit."""
    limit = settings.INTAKE_MAX_BODY_BYTES
    length = request.META.get("CONTENT_LENGTH") or ""
    if not length and request.META.get("wsgi.input_terminated"):
        return _read_up_to(request.META["wsgi.input"].read, limit)
    try:
        declared = int(length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    return _read_up_to(request.read, limit)


def _parse(body: bytes) -> tuple[Any, list[Issue], str]:
    """(document, [], "") or (_NOT_PARSED, the errors, a Bokmål sentence for `detail`)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _malformed(_("Innholdet er ikke gyldig UTF-8"))
    try:
        return jsonparse.loads(text), [], ""
    except jsonparse.DuplicateKey:
        issues = document_duplicate_issues(jsonparse.loads_marked(text))
        return _NOT_PARSED, issues, _("Dokumentet har felt som står to ganger i samme objekt")
    except json.JSONDecodeError as exc:
        return _malformed(
            _("Ugyldig JSON (linje %(line)d, kolonne %(col)d): %(msg)s")
            % {"line": exc.lineno, "col": exc.colno, "msg": exc.msg}
        )
    except (ValueError, RecursionError):
        return _malformed(_("Ugyldig JSON"))


def _malformed(message: str) -> tuple[Any, list[Issue], str]:
    return _NOT_PARSED, [Issue("malformed_json", message)], message


@csrf_exempt
def invoice_bases(request: HttpRequest) -> JsonResponse:
    # The contract's messages are Bokmål, whatever language a client's cookie or header asks for.
    with translation.override("nb"):
        if request.method != "POST":
            response = _plain(
                405,
                "method_not_allowed",
                _("Metoden %(method)s er ikke tillatt her; fakturagrunnlag sendes med POST")
                % {"method": request.method},
            )
            response["Allow"] = "POST"
            return response
        return _invoice_bases(request)


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other address under /api/: a 404 in the API's own shape, not an HTML page."""
    with translation.override("nb"):
        return _plain(
            404,
            "not_found",
            _("Ukjent adresse i API-et; fakturagrunnlag sendes med POST til /api/v1/invoice-bases"),
        )


def _invoice_bases(request: HttpRequest) -> JsonResponse:
    token = _token(request)
    if token is None:
        return _plain(401, "unauthorized", _("Mangler eller ugyldig API-nøkkel"))

    body = _read_body(request)
    document, parse_errors, detail = _parse(body) if body is not None else (_NOT_PARSED, [], "")
    if document is not _NOT_PARSED:
        try:
            municipality_for_token(document, token)
        except IntakeForbidden as exc:
            return _errors(403, exc.errors, exc.errors[0].message)
        except IntakeError:
            pass  # a missing or malformed number: answered as 400 below, after 415 and 413
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
        return _errors(400, parse_errors, detail)

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
