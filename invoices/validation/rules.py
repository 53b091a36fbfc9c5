"""The vocabulary of validation: the limits and patterns of spec/intake.md, and `Issue`, the one
shape every finding has."""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.utils.translation import gettext as _

from core.text import FORBIDDEN, describe, is_surrogate

from ..models import (
    BasisKind,
)

Severity = Literal["error", "warning"]


MAX_REFERENCE = 64


MAX_NAME = 100


MAX_ADDRESS = 100


MAX_PLACE = 100


MAX_DESCRIPTION = 200


MAX_TEXT = 50


MAX_TEXTS = 99


MAX_LINES = 99


MAX_UNIT_CODE = 32


MAX_SERVICE_CODE = 32


MAX_DIMENSION_VALUE = 25


UNIT_PRICE_LIMIT = 10**8


AMOUNT_LIMIT = 10**10


PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


QUANTITY = re.compile(r"(-?)([0-9]{1,7})(?:\.([0-9]{1,2}))?")


DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


POSTCODE = re.compile(r"[0-9]{4}")


# Control characters (Cc) and line breaks would break the fixed-width export files, format
# characters (Cf) such as U+202E reorder what a clerk sees, and lone surrogates cannot be stored
# as UTF-8 at all (core/text.py says why each one).
BAD_CHARS = FORBIDDEN


KINDS = frozenset(BasisKind.values)


BASIS_FIELDS = frozenset(
    {"source_reference", "period", "unit", "kind", "credits", "payer", "recipient", "lines"}
)


UNIT_FIELDS = frozenset({"code", "name"})


PARTY_FIELDS = frozenset(
    {"national_id", "org_number", "name", "address1", "address2", "postcode", "place"}
)


ADDRESS_FIELDS = ("address1", "address2", "postcode", "place")


LINE_FIELDS = frozenset(
    {
        "service_code",
        "description",
        "quantity",
        "unit_price_ore",
        "amount_ore",
        "service_from",
        "service_to",
        "texts",
        "dimensions",
    }
)


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding. `index` counts from 0 within the request's `invoice_bases`; `field` is
    relative to the basis (`lines[0].amount_ore`). Stored bases carry `basis_id` instead."""

    code: str
    message: str
    field: str = ""
    index: int | None = None
    source_reference: str | None = None
    severity: Severity = "error"
    basis_id: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        """The API's error shape (spec/intake.md)."""
        return {
            "index": self.index,
            "source_reference": self.source_reference,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }

    def as_text(self) -> str:
        """One line for command output and logs."""
        where = []
        if self.index is not None:
            where.append(f"grunnlag {self.index}")
        if self.source_reference:
            where.append(f"({self.source_reference})")
        if self.field:
            where.append(self.field)
        prefix = " ".join(where)
        return (
            f"{prefix}: [{self.code}] {self.message}" if prefix else f"[{self.code}] {self.message}"
        )


def bad_character(value: str) -> tuple[str, str] | None:
    """(code, Bokmål message) for the first character of `value` no text may hold, or None."""
    match = BAD_CHARS.search(value)
    if match is None:
        return None
    char = match.group()
    if is_surrogate(char):
        return "invalid_characters", _("Teksten inneholder et ugyldig tegn (%(char)s)") % {
            "char": describe(char)
        }
    return "control_character", _(
        "Teksten inneholder et kontrolltegn (%(char)s); linjeskift, retningstegn og andre "
        "usynlige styretegn er ikke tillatt"
    ) % {"char": describe(char)}


def period_bounds(period: str) -> tuple[datetime.date, datetime.date]:
    year, month = int(period[:4]), int(period[5:7])
    return (
        datetime.date(year, month, 1),
        datetime.date(year, month, calendar.monthrange(year, month)[1]),
    )


def echo(value: object, limit: int = MAX_REFERENCE) -> str | None:
    """A caller's value, made safe to repeat in an error (JSON, terminal, HTML)."""
    if not isinstance(value, str):
        return None
    text = BAD_CHARS.sub("\ufffd", value)
    return text if len(text) <= limit else text[:limit] + "…"
