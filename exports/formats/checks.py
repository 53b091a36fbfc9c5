"""Checks and small conversions the format builders share (no format knowledge here)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from exports.formats.encoding import Codec, codec
from exports.formats.types import Basis, Customer, Finding
from invoices.amounts import amount_for
from invoices.identifiers import (
    InvalidIdentifier,
    mask_national_id,
    validate_national_id,
    validate_org_number,
)

T = TypeVar("T")

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


def error(code: str, message: str, basis: Basis | None = None, field: str = "") -> Finding:
    if basis is None:
        return Finding(code, message, "error", None, "", field)
    return Finding(code, message, "error", basis.pk, basis.reference, field)


def warning(code: str, message: str, basis: Basis | None = None, field: str = "") -> Finding:
    if basis is None:
        return Finding(code, message, "warning", None, "", field)
    return Finding(code, message, "warning", basis.pk, basis.reference, field)


def transliterated_message(encoding: str) -> str:
    """The warning a basis gets when the file shows other letters than the database holds."""
    return f"Tegn som {encoding} ikke har, er byttet ut i filen (for eksempel č → c, ŋ → n)"


def errors_then_warnings(
    per_basis: Iterable[tuple[object, list[Finding], list[Finding]]],
) -> list[Finding]:
    """The findings of a whole file as `validate()` reports them: every error in basis order,
    then every warning in basis order."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    for _basis, basis_errors, basis_warnings in per_basis:
        errors.extend(basis_errors)
        warnings.extend(basis_warnings)
    return errors + warnings


class Report:
    """Findings about one basis: errors kept here, warnings added to a shared list."""

    __slots__ = ("basis", "errors", "warnings")

    def __init__(self, basis: Basis, warnings: list[Finding]) -> None:
        self.basis = basis
        self.errors: list[Finding] = []
        self.warnings = warnings

    def error(self, code: str, message: str, field: str = "") -> None:
        self.errors.append(error(code, message, self.basis, field))

    def warning(self, code: str, message: str, field: str = "") -> None:
        self.warnings.append(warning(code, message, self.basis, field))


class Facts:
    """Bounded caches of what a planner derived from repeated values (a line's service and
    amounts, its texts, its kontering), so the 100 000 lines of a month are mostly lookups.
    Cleared whole when full: memory stays flat however varied the month."""

    __slots__ = ("kb", "lines", "size", "texts")
    LIMIT = 8192

    def __init__(self) -> None:
        self.lines: dict[Any, Any] = {}
        self.texts: dict[Any, Any] = {}
        self.kb: dict[Any, Any] = {}
        self.size = 0

    def remember(self, cache: dict[Any, Any], key: Any, value: T) -> T:
        self.size += 1
        if self.size > self.LIMIT:
            self.size = 0
            self.lines.clear()
            self.texts.clear()
            self.kb.clear()
        cache[key] = value
        return value


@functools.lru_cache(maxsize=4096)
def customer_id_problem(identifier: str, is_organisation: bool) -> str:
    """'' if the identifier is a valid national id / organisasjonsnummer, else why not.

    Synthetic test numbers pass: whether they are allowed is decided when bases are received.
    Cached for payers that recur close together (an organisation paying for many); kept small
    so that memory does not grow with the month: checking an id costs a few microseconds.
    """
    try:
        if is_organisation:
            validate_org_number(identifier)
        else:
            validate_national_id(identifier, allow_synthetic=True)
    except InvalidIdentifier as exc:
        return exc.message
    return ""


def masked(customer: Customer) -> str:
    return (
        customer.identifier if customer.is_organisation else mask_national_id(customer.identifier)
    )


@functools.lru_cache(maxsize=4096)
def hundredths(quantity: Decimal) -> int | None:
    """quantity × 100 as an int, or None if the quantity has more than two decimals.

    Cached: a month's lines repeat a few quantities (1, 4, 30 …) over and over.
    """
    scaled = quantity.scaleb(2)
    whole = int(scaled)
    return whole if whole == scaled else None


def amount_matches(quantity_hundredths: int, unit_price_ore: int, amount_ore: int) -> bool:
    """amount = quantity × unit price, rounded half away from zero: the intake's own rule."""
    return amount_for(quantity_hundredths, unit_price_ore) == amount_ore


def text_lines(texts: Sequence[str], codec: Codec, width: int) -> tuple[Sequence[str], bool]:
    """The texts cleaned and wrapped to `width`, and whether transliteration changed any."""
    if not texts:
        return (), False
    if codec.fits("".join(texts)) and max(map(len, texts)) <= width:
        return texts, False
    lines: list[str] = []
    changed = False
    for text in texts:
        wrapped, text_changed = _wrapped(text, codec.encoding, width)
        lines.extend(wrapped)
        changed = changed or text_changed
    return lines, changed


@functools.lru_cache(maxsize=8192)
def _wrapped(text: str, encoding: str, width: int) -> tuple[tuple[str, ...], bool]:
    # Cached: care systems write the same texts on line after line.
    c = codec(encoding)
    return tuple(wrap_text(c.clean(text), width)), c.needs_transliteration(text)


@functools.lru_cache(maxsize=256)
def period_parts(period: str) -> tuple[int, int] | None:
    """(year, month) from 'YYYY-MM', or None."""
    if len(period) != 7 or period[4] != "-":
        return None
    year, month = period[:4], period[5:]
    if not (year.isdigit() and month.isdigit()) or not 1 <= int(month) <= 12:
        return None
    return int(year), int(month)


@functools.lru_cache(maxsize=256)
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
