"""Checks and small conversions the format builders share (no format knowledge here)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from exports.formats.types import Basis, Customer, Finding
from invoices.identifiers import (
    InvalidIdentifier,
    mask_national_id,
    validate_national_id,
    validate_org_number,
)

MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)

_HUNDRED = Decimal(100)
_ONE = Decimal(1)


def error(code: str, message: str, basis: Basis | None = None, field: str = "") -> Finding:
    return Finding(
        code=code,
        message=message,
        severity="error",
        basis_pk=basis.pk if basis else None,
        reference=basis.reference if basis else "",
        field=field,
    )


def warning(code: str, message: str, basis: Basis | None = None, field: str = "") -> Finding:
    return Finding(
        code=code,
        message=message,
        severity="warning",
        basis_pk=basis.pk if basis else None,
        reference=basis.reference if basis else "",
        field=field,
    )


def customer_id_problem(customer: Customer) -> str:
    """'' if the payer's identifier is a valid national id / organisasjonsnummer, else why not.

    Synthetic test numbers pass: whether they are allowed is decided when bases are received.
    """
    try:
        if customer.is_organisation:
            validate_org_number(customer.identifier)
        else:
            validate_national_id(customer.identifier, allow_synthetic=True)
    except InvalidIdentifier as exc:
        return exc.message
    return ""


def masked(customer: Customer) -> str:
    return (
        customer.identifier if customer.is_organisation else mask_national_id(customer.identifier)
    )


def hundredths(quantity: Decimal) -> int | None:
    """quantity × 100 as an int, or None if the quantity has more than two decimals."""
    scaled = quantity * _HUNDRED
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def expected_amount(quantity: Decimal, unit_price_ore: int) -> int:
    return int((quantity * unit_price_ore).quantize(_ONE, rounding=ROUND_HALF_UP))


def period_parts(period: str) -> tuple[int, int] | None:
    """(year, month) from 'YYYY-MM', or None."""
    if len(period) != 7 or period[4] != "-":
        return None
    year, month = period[:4], period[5:]
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        return None
    return int(year), int(month)


def period_name(period: str) -> str:
    parts = period_parts(period)
    if parts is None:
        return period
    return f"{MONTHS[parts[1] - 1]} {parts[0]}"


def is_digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def wrap_text(text: str, width: int) -> list[str]:
    """Wrap on word boundaries into lines of at most `width`; words longer than that are split.

    A text that fits is kept exactly as it is (inner spaces included); a longer one is re-flowed
    with single spaces between words.
    """
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if not current:
            current = word
        elif len(current) + 1 + len(word) <= width:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = word
    if current or not lines:
        lines.append(current)
    return lines
