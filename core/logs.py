"""Log lines an operator can search: one line per event, plain or JSON, with the request, export or
transfer it belongs to, and never a full national id or a credential.

- `log_context(export_id=…)` puts ids on every line logged inside the block (a contextvar, so
  threads and requests never see each other's ids). The web sets `request_id`
  (`operations.middleware.RequestIdMiddleware`); the Celery tasks set `export_id` / `transfer_id`.
- `ContextFilter` copies those ids onto each record; `MaskFilter` masks 11-digit numbers
  (`15899010059` → `158990*****`) and credentials in the message and in the traceback, before any
  formatter sees them.
- `PlainFormatter` and `JsonFormatter` write exactly one line per record: tracebacks too.

Only the standard library: gunicorn's configuration file imports this before Django is set up.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

# The ids a line can carry, in the order the plain format prints them.
CONTEXT_FIELDS = ("request_id", "export_id", "transfer_id")

_NONE: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "log_context", default=_NONE
)


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Every line logged in the block carries these ids (added to any the caller already set)."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in ids.items()}})
    try:
        yield
    finally:
        _context.reset(token)


def set_log_context(**ids: object) -> None:
    """Set ids until `clear_log_context()`: for a request, whose end Django signals separately."""
    _context.set({**_context.get(), **{k: str(v) for k, v in ids.items()}})


def clear_log_context() -> None:
    _context.set(_NONE)


def current_log_context() -> Mapping[str, str]:
    return _context.get()


# Eleven digits standing alone: a fødselsnummer, D- or H-nummer (or anything shaped like one,
# which is masked too). The first six (the birth date) stay, so support can still tell lines apart.
_NATIONAL_ID = re.compile(r"(?<!\d)(\d{6})\d{5}(?!\d)")
# Credentials that could reach a line through a library's debug output or an exception text.
_CREDENTIALS = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token)\s+)[^\s\"',}]+"
    r"|((?:password|passord|secret|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"
)


def mask(text: str) -> str:
    """`text` with every 11-digit number cut to its first six digits and credentials removed."""
    text = _NATIONAL_ID.sub(r"\1*****", text)
    return _CREDENTIALS.sub(lambda m: (m.group(1) or m.group(2)) + "*****", text)


class ContextFilter(logging.Filter):
    """Adds `request_id`, `export_id`, `transfer_id` (empty when unknown) and `context` (the
    known ones as `key=value `, for the plain format) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _context.get()
        for name in CONTEXT_FIELDS:
            if not getattr(record, name, ""):
                setattr(record, name, ids.get(name, ""))
        record.context = "".join(
            f"{name}={getattr(record, name)} " for name in CONTEXT_FIELDS if getattr(record, name)
        )
        return True


class MaskFilter(logging.Filter):
    """Masks national ids and credentials in the message, its arguments and its traceback.

    The message is rendered here (`getMessage()`) and stored back without arguments, and the
    traceback is rendered into `exc_text`, which every formatter prints as it is.
    """

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", "\\n")


class PlainFormatter(logging.Formatter):
    """`time level logger [ids] message`, with a traceback folded into the same line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(context)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            ContextFilter().filter(record)
        return _one_line(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the known ids,
    process, and the traceback as `exc` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            ContextFilter().filter(record)
        data: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if getattr(record, name, ""):
                data[name] = getattr(record, name)
        data["process"] = record.process
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=str)


LOG_FORMATS = ("plain", "json")


def logging_config(
    *, level: str = "INFO", fmt: str = "plain", extra_loggers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The `logging.config.dictConfig` of every process: Django (settings.LOGGING), Celery worker
    and beat (which keep it, see aidn_billing/celery.py) and gunicorn (deploy/gunicorn.conf.py).

    One handler on stderr; the filters sit on the handler, so every logger's lines, a library's
    too, are masked and carry their ids.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    formatter = JsonFormatter if fmt == "json" else PlainFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter},
            "mask": {"()": MaskFilter},
        },
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context", "mask"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # At DEBUG these print whole SOAP envelopes and HTTP bodies: names, addresses, ids.
            "zeep.transports": {"level": "INFO"},
            "urllib3.connectionpool": {"level": "INFO"},
            **(extra_loggers or {}),
        },
    }
