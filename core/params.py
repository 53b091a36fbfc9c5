"""Query and form parameters a view reads by hand: each is parsed here before it goes anywhere
near the database.

Every helper takes the `QueryDict` (`request.GET` or `request.POST`) and a name, and returns a
clean value or raises `InvalidParameter`, a 400 with a Bokmål sentence that says what was wrong.
A missing or empty parameter is the default, never an error unless `required`. Views that use
them are wrapped in `answers_bad_parameters`, which shows that sentence on a page of its own;
without it, Django still answers 400 (InvalidParameter is a BadRequest).

Why not simply `request.GET.get(...)`: PostgreSQL refuses NUL in a text value with an error (a
500), `int()` takes `'²'`, `'٣'` and 4 000-digit numbers, and an unknown choice silently shows a
different page than the user asked for.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .text import describe, forbidden_character

# The largest id any table of the product can hold (PostgreSQL bigint).
MAX_ID = 2**63 - 1
MAX_PAGE = 1_000_000
_DIGITS = re.compile(r"[0-9]{1,19}")
_PERIOD = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")

V = TypeVar("V", bound=Callable[..., HttpResponse])


class InvalidParameter(BadRequest):
    """A parameter that cannot be used; `message` is Bokmål and names the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _raw(data: QueryDict, name: str) -> str:
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def _refuse(name: str, reason: str) -> InvalidParameter:
    return InvalidParameter(
        name,
        _("Ugyldig verdi for «%(name)s»: %(reason)s") % {"name": name, "reason": reason},
    )


def check_text(value: str, name: str, *, max_length: int, multiline: bool = False) -> str:
    """`value` if it holds no control or format character and is at most `max_length` long."""
    bad = forbidden_character(value, multiline=multiline)
    if bad is not None:
        raise _refuse(
            name, _("teksten inneholder et kontrolltegn (%(char)s).") % {"char": describe(bad)}
        )
    if len(value) > max_length:
        raise _refuse(
            name,
            _("teksten er %(length)d tegn; høyst %(limit)d er tillatt.")
            % {"length": len(value), "limit": max_length},
        )
    return value


def text(
    data: QueryDict,
    name: str,
    *,
    max_length: int = 100,
    default: str = "",
    multiline: bool = False,
) -> str:
    """Free text without control characters (line breaks too, if `multiline`: a textarea),
    stripped of surrounding blanks."""
    value = _raw(data, name)
    check_text(value, name, max_length=max_length, multiline=multiline)
    return value.strip() or default


def code(data: QueryDict, name: str, *, max_length: int = 32) -> str:
    """A code as the catalogue and the intake store it (a unit's or a service's): any printable
    text up to `max_length`, so that every code that exists can be asked for."""
    return text(data, name, max_length=max_length)


def period(data: QueryDict, name: str = "period", *, default: str = "") -> str:
    """A billing month `YYYY-MM` (ASCII digits, month 01–12)."""
    value = text(data, name, max_length=7)
    if not value:
        return default
    if not _PERIOD.fullmatch(value):
        raise _refuse(name, _("en periode skrives ÅÅÅÅ-MM, for eksempel 2026-10."))
    return value


def date(data: QueryDict, name: str) -> datetime.date | None:
    """A calendar date `YYYY-MM-DD` (what a date field sends), or None when missing."""
    value = text(data, name, max_length=10)
    if not value:
        return None
    match = _DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise _refuse(name, _("en dato skrives ÅÅÅÅ-MM-DD, for eksempel 2026-10-31.")) from None


def integer(
    data: QueryDict,
    name: str,
    *,
    minimum: int = 1,
    maximum: int = MAX_ID,
    required: bool = False,
) -> int | None:
    """A whole number of ASCII digits between `minimum` and `maximum` (None when missing).

    `int()` alone would take `'²'`-like digits of other scripts, blanks and underscores, and
    numbers no database column can hold."""
    value = text(data, name, max_length=40)
    if not value:
        if required:
            raise _refuse(name, _("verdien mangler."))
        return None
    if not _DIGITS.fullmatch(value) or not minimum <= int(value) <= maximum:
        raise _refuse(
            name,
            _("ventet et heltall fra %(min)d til %(max)d.") % {"min": minimum, "max": maximum},
        )
    return int(value)


def page(data: QueryDict, name: str = "page") -> int:
    """A page number (1 when missing); a page past the end is the paginator's to clamp."""
    return integer(data, name, maximum=MAX_PAGE) or 1


def choice(data: QueryDict, name: str, choices: Iterable[str], *, default: str = "") -> str:
    """One of `choices`, or `default` when missing or empty."""
    value = text(data, name, max_length=100)
    if not value:
        return default
    if value not in set(choices):
        raise _refuse(name, _("ukjent valg."))
    return value


def local_url(request: HttpRequest, data: QueryDict, name: str, *, default: str) -> str:
    """A path on this site to go back to (`next`); anything else is `default`.

    Only an absolute path: Django's `redirect("2")` would take a bare word for the name of a view
    and fail when there is none."""
    value = text(data, name, max_length=2000)
    if value.startswith("/") and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def answers_bad_parameters(view: V) -> V:
    """Show an `InvalidParameter` from `view` as a 400 page with its sentence."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except InvalidParameter as exc:
            return render(request, "core/bad_parameter.html", {"message": exc.message}, status=400)

    return wrapper  # type: ignore[return-value]
