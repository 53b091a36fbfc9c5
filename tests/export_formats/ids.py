"""Synthetic identifiers for generated test data: Tenor fødselsnummer (month + 80) and
organisasjonsnummer, each checked by the product's own validator before use."""

from __future__ import annotations

from stdnum.no import orgnr as stdnum_orgnr

from invoices.identifiers import is_valid_national_id

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check(digits: list[int], weights: tuple[int, ...]) -> int | None:
    remainder = sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def synthetic_fnrs(count: int) -> list[str]:
    """`count` distinct valid synthetic fødselsnummer (deterministic, classic check digits)."""
    found: list[str] = []
    for serial in range(1_000_000):
        day, month, year = 1 + serial % 28, 81 + (serial // 28) % 12, serial // 336 % 100
        body = f"{day:02d}{month:02d}{year:02d}{serial % 1000:03d}"
        digits = [int(c) for c in body]
        k1 = _check(digits, _K1)
        k2 = None if k1 is None else _check([*digits, k1], _K2)
        if k1 is None or k2 is None:
            continue
        number = f"{body}{k1}{k2}"
        if number not in found and is_valid_national_id(number, allow_synthetic=True):
            found.append(number)
            if len(found) == count:
                return found
    raise ValueError(count)


def synthetic_fnr(n: int) -> str:
    return synthetic_fnrs(n + 1)[n]


def organisation_number(n: int) -> str:
    """The n-th valid organisasjonsnummer from 900000000 on (deterministic)."""
    found = -1
    for number in range(900_000_000, 1_000_000_000):
        if stdnum_orgnr.is_valid(str(number)):
            found += 1
            if found == n:
                return str(number)
    raise ValueError(n)
