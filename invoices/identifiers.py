"""Norwegian identifiers: fødselsnummer family (with the 2032 rule), organisasjonsnummer, KID.

python-stdnum rejects both 2032-rule numbers and synthetic test numbers, so the national-id check is
our own; the organisasjonsnummer check is stdnum's.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.no import orgnr as _orgnr

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class IdKind(StrEnum):
    FODSELSNUMMER = "fnr"
    D_NUMMER = "dnr"
    H_NUMMER = "hnr"


@dataclass(frozen=True)
class NationalIdResult:
    kind: IdKind
    synthetic: bool


class InvalidIdentifier(ValueError):
    """Raised with a stable `code` and a Bokmål `message`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _digits(value: str, length: int, what: str) -> list[int]:
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise InvalidIdentifier("invalid_format", f"{what} må være {length} siffer")
    return [int(c) for c in value]


def _real_day(day: int, month: int, yy: int) -> bool:
    # The number no longer tells the century; a day is real if it exists in some century we use.
    for century in (1900, 2000):
        try:
            datetime.date(century + yy, month, day)
            return True
        except ValueError:
            continue
    return False


def validate_national_id(value: str, *, allow_synthetic: bool) -> NationalIdResult:
    """Validate an 11-digit fødselsnummer, D-nummer or H-nummer.

    Accepts both the classic check-digit rule and the 2032 rule (K1 remainder 0–3). Never derives
    age, sex or century: the 2032 numbers carry none of them.
    """
    d = _digits(value, 11, "Fødselsnummer")
    k1_sum = sum(w * x for w, x in zip(_K1_WEIGHTS, d[:9], strict=True)) + d[9]
    if k1_sum % 11 not in (0, 1, 2, 3):
        raise InvalidIdentifier("invalid_checksum", "Fødselsnummeret har feil kontrollsiffer")
    k2_sum = sum(w * x for w, x in zip(_K2_WEIGHTS, d[:10], strict=True)) + d[10]
    if k2_sum % 11 != 0:
        raise InvalidIdentifier("invalid_checksum", "Fødselsnummeret har feil kontrollsiffer")

    day = d[0] * 10 + d[1]
    month = d[2] * 10 + d[3]
    yy = d[4] * 10 + d[5]
    kind = IdKind.FODSELSNUMMER
    if day > 40:
        kind = IdKind.D_NUMMER
        day -= 40
    synthetic = False
    if month > 80:
        synthetic = True  # Tenor
        month -= 80
    elif month > 40:
        # H-nummer and Dolly's synthetic numbers share the +40 offset and cannot be told apart;
        # real H-numbers exist in production, so +40 is accepted as H-nummer.
        kind = IdKind.H_NUMMER if kind is IdKind.FODSELSNUMMER else kind
        month -= 40
    if not (1 <= month <= 12) or not _real_day(day, month, yy):
        raise InvalidIdentifier("invalid_date", "Fødselsnummeret har ingen gyldig dato")
    if synthetic and not allow_synthetic:
        raise InvalidIdentifier(
            "synthetic_id", "Syntetiske testnumre er ikke tillatt i denne installasjonen"
        )
    return NationalIdResult(kind=kind, synthetic=synthetic)


def is_valid_national_id(value: str, *, allow_synthetic: bool) -> bool:
    try:
        validate_national_id(value, allow_synthetic=allow_synthetic)
    except InvalidIdentifier:
        return False
    return True


def validate_org_number(value: str) -> str:
    """Return the compact organisasjonsnummer or raise InvalidIdentifier."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        raise InvalidIdentifier("invalid_format", "Organisasjonsnummer må være 9 siffer")
    try:
        return str(_orgnr.validate(value))
    except StdnumError as exc:
        raise InvalidIdentifier(
            "invalid_checksum", "Organisasjonsnummeret har feil kontrollsiffer"
        ) from exc


def mask_national_id(value: str) -> str:
    """`15899010059` → `158990*****`: the birth date part, never the personal number."""
    if len(value) == 11:
        return value[:6] + "*****"
    return value


def kid_mod10_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def kid_mod11_check_digit(body: str) -> str:
    weights = (2, 3, 4, 5, 6, 7)
    total = sum(int(ch) * weights[i % 6] for i, ch in enumerate(reversed(body)))
    check = 11 - total % 11
    if check == 11:
        return "0"
    if check == 10:
        return "-"
    return str(check)


def is_valid_kid(value: str) -> bool:
    """A KID is 2–25 characters whose last is a MOD10 or MOD11 check digit over the rest."""
    if not 2 <= len(value) <= 25 or not value.isascii():
        return False
    body, check = value[:-1], value[-1]
    if not body.isdigit() or not (check.isdigit() or check == "-"):
        return False
    return check in (kid_mod10_check_digit(body), kid_mod11_check_digit(body))
