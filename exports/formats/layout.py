"""Fixed-width record layouts, loaded from the CSV tables in `exports/layouts/`.

A layout is data: (field, start, length, kind) per field. The CSVs keep the vendor's own type words
(`c35`, `n17 (x100)`, `d17`, `money`, `A`, `M` …); `_KIND_RULES` turns them into the handful of
kinds the one writer and one reader know. A new variant of a format is a new CSV (or new columns),
not new code. Every layout is checked on load: fields contiguous from position 1, no overlap, no
duplicate names, and the record length the caller expects.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

LAYOUT_DIR = Path(__file__).resolve().parent.parent / "layouts"


class Kind(StrEnum):
    TEXT = "text"  # left-aligned, space-padded, cut to width
    NUMBER = "number"  # digits only, right-aligned, zero-padded; never cut
    SIGNED = "signed"  # zero-padded with a leading '-' for negatives (Agresso money, quantity)
    SIGN_LAST = "sign_last"  # zero-padded digits, then ' ' or '-' (Visma money)
    DATE = "date"  # YYYYMMDD, right-aligned, space-padded (classic d17: 9 spaces + 8 digits)
    RIGHT = "right"  # right-aligned, space-padded (CS15 apar_id)


class LayoutError(ValueError):
    pass


# First match wins; the vendor type word is compared in lower case.
_KIND_RULES: tuple[tuple[re.Pattern[str], Kind], ...] = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"^a$", Kind.TEXT),
        (r"^n$", Kind.NUMBER),
        (r"^m$", Kind.SIGN_LAST),
        (r"^c\d+", Kind.TEXT),
        (r"^n\d+ \(right-aligned, space-padded\)", Kind.RIGHT),
        (r"^n\d+ \(x100\)", Kind.SIGNED),
        (r"^(money|float)$", Kind.SIGNED),
        (r"^[in]\d+", Kind.NUMBER),
        (r"^(bigint|int)$", Kind.NUMBER),
        (r"^(d\d+|date)$", Kind.DATE),
    )
)


def kind_of(type_word: str) -> Kind:
    word = type_word.strip().lower()
    for pattern, kind in _KIND_RULES:
        if pattern.search(word):
            return kind
    raise LayoutError(f"unknown field type {type_word!r}")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    start: int  # 1-based, as in the vendor text
    length: int
    kind: Kind

    @property
    def offset(self) -> int:
        return self.start - 1

    @property
    def end(self) -> int:
        return self.start - 1 + self.length


@dataclass(frozen=True)
class RecordLayout:
    name: str
    fields: tuple[FieldSpec, ...]
    length: int

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no field {name!r}")

    def has(self, name: str) -> bool:
        return any(spec.name == name for spec in self.fields)


def _build(name: str, specs: list[FieldSpec], expected_length: int | None) -> RecordLayout:
    if not specs:
        raise LayoutError(f"{name}: no fields")
    specs.sort(key=lambda s: s.start)
    seen: set[str] = set()
    position = 1
    for spec in specs:
        if spec.name in seen:
            raise LayoutError(f"{name}: field {spec.name} appears twice")
        seen.add(spec.name)
        if spec.length < 1:
            raise LayoutError(f"{name}.{spec.name}: length must be positive")
        if spec.start < position:
            raise LayoutError(f"{name}.{spec.name} at {spec.start} overlaps the previous field")
        if spec.start > position:
            raise LayoutError(f"{name}: gap before {spec.name} (positions {position}..)")
        position = spec.start + spec.length
    length = position - 1
    if expected_length is not None and length != expected_length:
        raise LayoutError(f"{name}: record length {length}, expected {expected_length}")
    return RecordLayout(name=name, fields=tuple(specs), length=length)


def _rows(filename: str) -> list[dict[str, str]]:
    with (LAYOUT_DIR / filename).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@functools.cache
def load_layout(
    filename: str, record: str = "", *, variant: str = "", expected_length: int | None = None
) -> RecordLayout:
    """Load one record layout from a CSV in `exports/layouts/` (cached per process).

    Three table shapes exist: one record per file (`field,start,len,type`), several records in
    one file (`record,field,start,len,kind`: pass `record`), and several variants side by side
    (`field,<variant>_start,<variant>_len,<variant>_type`: pass `variant`; a variant lacks the
    fields whose start is blank). Field names are always the `field` column, so code written for
    one variant serves the others.
    """
    rows = _rows(filename)
    specs: list[FieldSpec] = []
    for row in rows:
        if variant:
            start, length, type_word = (
                row[f"{variant}_start"],
                row[f"{variant}_len"],
                row[f"{variant}_type"],
            )
            if not start.strip():
                continue
        else:
            if record and row.get("record") != record:
                continue
            start, length = row["start"], row["len"]
            type_word = row.get("kind") or row.get("type") or ""
        try:
            specs.append(
                FieldSpec(row["field"].strip(), int(start), int(length), kind_of(type_word))
            )
        except ValueError as exc:
            raise LayoutError(f"{filename} {record or variant} {row['field']}: {exc}") from exc
    name = f"{filename}:{record or variant or 'record'}"
    return _build(name, specs, expected_length)
