"""Norwegian identifiers: fødselsnummer family (with the 2032 rule), organisasjonsnummer, KID.

python-stdnum rejects both 2032-rule numbers and synthetic test numbers, so the national-id check is
our own; the organisasjonsnummer check is stdnum's.
"""

from __future__ import annotations

import datetime
import functools
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


@functools.lru_cache(maxsize=1024)
def _real_day(day: int, month: int, yy: int) -> bool:
    # The number no longer tells the century; a day is real if it exists in some century we use.
    for century in (1900, 2000):
        try:
            datetime.date(century + yy, month, day)
            return True
        except ValueError:
            continue
    return False


# Only six results exist; made once. The checksums below are the weights of _K1_WEIGHTS and
# _K2_WEIGHTS written out over the digits' byte values (each byte is digit + 48): an export
# validates every payer of a month, and this form is several times faster than loops over lists.
_RESULTS = {
    (kind, synthetic): NationalIdResult(kind=kind, synthetic=synthetic)
    for kind in IdKind
    for synthetic in (False, True)
}
_K1_OFFSET = 48 * (sum(_K1_WEIGHTS) + 1)
_K2_OFFSET = 48 * (sum(_K2_WEIGHTS) + 1)


def validate_national_id(value: str, *, allow_synthetic: bool) -> NationalIdResult:
    """Validate an 11-digit fødselsnummer, D-nummer or H-nummer.

    Accepts both the classic check-digit rule and the 2032 rule (K1 remainder 0–3). Never derives
    age, sex or century: the 2032 numbers carry none of them.
    """
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        raise InvalidIdentifier("invalid_format", "Fødselsnummer må være 11 siffer")
    d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10 = value.encode("ascii")
    k1_sum = (
        3 * d0 + 7 * d1 + 6 * d2 + d3 + 8 * d4 + 9 * d5 + 4 * d6 + 5 * d7 + 2 * d8 + d9
    ) - _K1_OFFSET
    if k1_sum % 11 > 3:
        raise InvalidIdentifier("invalid_checksum", "Fødselsnummeret har feil kontrollsiffer")
    k2_sum = (
        (5 * d0 + 4 * d1 + 3 * d2 + 2 * d3 + 7 * d4 + 6 * d5 + 5 * d6 + 4 * d7 + 3 * d8 + 2 * d9)
        + d10
        - _K2_OFFSET
    )
    if k2_sum % 11 != 0:
        raise InvalidIdentifier("invalid_checksum", "Fødselsnummeret har feil kontrollsiffer")

    day = d0 * 10 + d1 - 528  # 528 = 48 * 11: the two bytes' offsets
    month = d2 * 10 + d3 - 528
    yy = d4 * 10 + d5 - 528
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
    return _RESULTS[kind, synthetic]


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
