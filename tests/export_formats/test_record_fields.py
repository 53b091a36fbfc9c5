"""Every field of one LG04 order (header, item and text line, classic layout) and of one CS15
customer, cut at the position the layout CSV gives and compared with a value written here by hand
from the sample bases, the sample options and spec/agresso-lg04.md. A field not named here must be
blank. So a golden file rewritten by mistake, or a field moved in the layout, still fails."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import pytest

from exports.formats import agresso_cs15, agresso_lg04
from tests.export_formats import samples

LAYOUTS = Path(__file__).resolve().parents[2] / "exports" / "layouts"


def _layout(name: str, start: str, length: str, kind: str) -> list[tuple[str, int, int, str]]:
    with (LAYOUTS / name).open(encoding="utf-8", newline="") as fh:
        return [
            (row["field"], int(row[start]), int(row[length]), row[kind])
            for row in csv.DictReader(fh)
            if row[start]
        ]


def _aligned(value: str, width: int, kind: str) -> str:
    """Text is left-aligned, classic dates right-aligned in 17 (spec "Field rules"); numbers are
    written here at their full width already."""
    if kind.startswith("d"):
        return value.rjust(width)
    if kind.startswith(("i", "n")) and len(value) != width and value.strip():
        raise AssertionError(f"{value!r} must be written at its full width {width}")
    return value.ljust(width)


def _check(
    record: bytes, layout: list[tuple[str, int, int, str]], expected: dict[str, str]
) -> None:
    assert set(expected) <= {field for field, *_ in layout}, "a field the layout does not have"
    wrong = []
    for field, start, length, kind in layout:
        got = record[start - 1 : start - 1 + length].decode("latin-1")
        want = _aligned(expected.get(field, ""), length, kind)
        if got != want:
            wrong.append(f"{field} @{start}+{length}: {got!r} != {want!r}")
    assert not wrong, "\n".join(wrong)


# Kari Nordmann's October order: one line of 4,00 × 215,00 kr with one text.
ORDER_KEYS = {
    "batch_id": "AIDN261101A",  # sample option
    "client": "BY",
    "order_id": "380000101",  # the first of the series
    "trans_type": "42",  # LG04 sales order
    "voucher_type": "FK",
}
LG04_HEADER = {
    **ORDER_KEYS,
    "accept_flag": "1",
    "line_no": "0000",
    "apar_id": "20000815",  # customer_mode apar_id: Kari's customer number
    "confirm_date": "20261101",
    "deliv_date": "20261101",
    "order_date": "20261101",
    "currency": "NOK",
    "ext_ord_ref": "9999-000000001",  # the basis reference
    "long_info1": "Hjemmetjenesten sone nord oktober 2026",  # unit and period
    "order_type": "FS",
    "pay_method": "IP",
    "period": "00202610",
    "responsible": "AIDN",
    "responsible2": "AIDN",
    "status": "N",
}
LG04_ITEM = {
    **ORDER_KEYS,
    "accept_flag": "0",
    "line_no": "0001",
    "sequence_no": "00000000",
    "article": "PB01",
    "art_descr": "Praktisk bistand oktober",
    "amount": "00000000000086000",  # 860,00 kr in øre
    "amount_set": "1",
    "value_1": "00000000000000400",  # 4,00 × 100
    "dim_1": "3100",  # ansvar
    "dim_2": "25400",  # tjeneste
    "dim_5": "9",  # prosjekt; slots 3 and 4 unused
    "tax_code": "0",
    "period": "00202610",
    "status": "N",
}
LG04_TEXT = {
    **ORDER_KEYS,
    "accept_flag": "0",
    "line_no": "0001",  # the same as its item
    "sequence_no": "00000001",
    "short_info": "4 timer praktisk bistand",
}


def _first_order() -> list[bytes]:
    out = io.BytesIO()
    agresso_lg04.write(
        samples.BASES, samples.LG04_CLASSIC, out, itertools.count(samples.FIRST_ORDER_ID)
    )
    return out.getvalue().split(b"\r\n")[:3]


@pytest.mark.parametrize(
    ("index", "expected"), [(0, LG04_HEADER), (1, LG04_ITEM), (2, LG04_TEXT)], ids=["H", "I", "T"]
)
def test_lg04_classic_every_field(index: int, expected: dict[str, str]) -> None:
    layout = _layout("agresso_lg04.csv", "classic_start", "classic_len", "classic_type")
    assert len(layout) >= 90
    record = _first_order()[index]
    assert len(record) == 1905
    _check(record, layout, expected)


CS15_PERSON = {
    "full_record": "1",
    "change_status": "I",  # insert
    "apar_gr_id": "10",  # customer group option
    "apar_id": " 20000815",  # right-aligned, space-padded (layout)
    "apar_name": "Kari Nordmann",
    "apar_type": "R",
    "client": "BY",
    "comp_reg_no": samples.FNR_OTHER,
    "control": "P",  # a person
    "currency": "NOK",
    "language": "NO",
    "pay_method": "IP",
    "status": "N",
    "address1": "Eksempelveien 1",
    "address_type": "1",
    "country_code": "NO",
    "place": "Testbygd",
    "zip_code": "9999",
}


def test_cs15_every_field_of_a_person() -> None:
    layout = _layout("agresso_cs15.csv", "start", "len", "type")
    assert len(layout) >= 60
    out = io.BytesIO()
    agresso_cs15.write_customers(agresso_cs15.distinct_payers(samples.BASES), samples.CS15, out)
    person = out.getvalue().split(b"\r\n")[0]
    assert len(person) == 1608
    _check(person, layout, CS15_PERSON)
