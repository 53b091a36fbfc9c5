"""The CSV and XLSX writers on their own: what makes Excel in Norway read a file right."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.tabular import (
    CSV_ROWS_PER_CHUNK,
    Column,
    Kind,
    Table,
    Total,
    csv_cell,
    csv_chunks,
    file_name_part,
    kroner,
    write_xlsx,
)

UTC = datetime.UTC

COLUMNS = [
    Column("Referanse", Kind.CODE),
    Column("Navn"),
    Column("Antall", Kind.QUANTITY),
    Column("Sum kr", Kind.MONEY),
    Column("Linjer", Kind.INTEGER),
    Column("Dato", Kind.DATE),
    Column("Tid", Kind.DATETIME),
]
ROWS = [
    (
        "01019012345",
        "Kari Nordmann",
        Decimal("4.50"),
        123456789,
        3,
        datetime.date(2026, 10, 31),
        datetime.datetime(2026, 7, 1, 10, 5, tzinfo=UTC),  # summer time: 12:05 in Oslo
    ),
    (
        "SRC-1",
        '=HYPERLINK("http://x")',
        Decimal("-1.00"),
        -5,
        0,
        None,
        datetime.datetime(2026, 12, 1, 23, 30, tzinfo=UTC),  # winter: 00:30 the next day
    ),
    Total(("Sum", "", None, 123456784, 3, None, None)),
]


def _csv(rows: list) -> list[list[str]]:
    raw = b"".join(csv_chunks(Table("T", COLUMNS, rows)))
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline=""), delimiter=";"))


def test_csv_is_what_a_norwegian_excel_reads() -> None:
    header, first, second, total = _csv(ROWS)
    assert header == ["Referanse", "Navn", "Antall", "Sum kr", "Linjer", "Dato", "Tid"]
    # A national id keeps its leading zero; decimal comma, no thousands separator.
    assert first == [
        '="01019012345"',
        "Kari Nordmann",
        "4,50",
        "1234567,89",
        "3",
        "31.10.2026",
        "01.07.2026 12:05",
    ]
    # A formula from the care system stays text; minus is the ASCII sign Excel reads.
    assert second == [
        "SRC-1",
        '\'=HYPERLINK("http://x")',
        "-1,00",
        "-0,05",
        "0",
        "",
        "02.12.2026 00:30",
    ]
    assert total == ["Sum", "", "", "1234567,84", "3", "", ""]


def test_csv_quotes_only_what_needs_it() -> None:
    rows = _csv([("A;B", 'si "hei"', None, 0, 1, None, None)])
    assert rows[1][:2] == ["A;B", 'si "hei"']
    raw = b"".join(csv_chunks(Table("T", COLUMNS, [("x\r\ny", "z", None, 0, 1, None, None)])))
    assert b'"x\r\ny";z;' in raw


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("0123", '="0123"'),
        ("2026-10", '="2026-10"'),  # Excel would make it a date
        ("1E5", '="1E5"'),  # and this a number
        ("4" * 25, '="' + "4" * 25 + '"'),  # a KID: no rounding to 15 digits
        ("158990*****", "158990*****"),
        ("HJT-SOR", "HJT-SOR"),
        ("", ""),
    ],
)
def test_codes_excel_would_convert_are_kept_as_text(value: str, cell: str) -> None:
    assert csv_cell(value, Kind.CODE) == cell


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_text_that_starts_like_a_formula_is_never_one(start: str) -> None:
    assert csv_cell(f"{start}1+1", Kind.TEXT) == f"'{start}1+1"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_kroner_round_trip_to_the_ore(ore: int) -> None:
    text = kroner(ore)
    assert " " not in text and "." not in text and "\u00a0" not in text
    assert int(Decimal(text.replace(",", ".")) * 100) == ore


def test_csv_streams_in_chunks() -> None:
    rows = [("R", "n", None, i, i, None, None) for i in range(CSV_ROWS_PER_CHUNK * 3 + 1)]
    chunks = list(csv_chunks(Table("T", COLUMNS, iter(rows))))
    assert len(chunks) == 4
    assert all(len(c) < 64 * 1024 for c in chunks)


def test_file_names_keep_only_safe_characters() -> None:
    assert file_name_part("HJT-SOR") == "HJT-SOR"
    assert file_name_part("Sone nord/sør") == "Sone-nord-s-r"
    assert file_name_part("../..") == "x"


def test_xlsx_has_numbers_dates_and_a_bold_frozen_header() -> None:
    handle = io.BytesIO()
    write_xlsx([Table("Grunnlag", COLUMNS, ROWS), Table("Linjer", COLUMNS[:2], [])], handle)
    handle.seek(0)
    workbook = openpyxl.load_workbook(handle)
    assert workbook.sheetnames == ["Grunnlag", "Linjer"]
    sheet = workbook["Grunnlag"]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.column_dimensions["A"].width == 14
    ref, name, quantity, money, lines, date, time = sheet[2]
    assert (ref.value, ref.data_type) == ("01019012345", "s")
    assert name.value == "Kari Nordmann"
    assert (quantity.value, quantity.number_format) == (4.5, "#,##0.00")
    assert (money.value, money.number_format) == (1234567.89, "#,##0.00")
    assert (lines.value, lines.data_type) == (3, "n")
    assert date.value == datetime.datetime(2026, 10, 31) and date.number_format == "dd.mm.yyyy"
    assert time.value == datetime.datetime(2026, 7, 1, 12, 5)
    assert time.number_format == "dd.mm.yyyy hh:mm"
    formula = sheet["B3"]
    assert formula.data_type == "s" and formula.value == '=HYPERLINK("http://x")'
    assert sheet["C3"].value == -1 and sheet["D3"].value == -0.05
    assert sheet["G3"].value == datetime.datetime(2026, 12, 2, 0, 30)
    total = sheet[4]
    assert total[0].value == "Sum" and total[3].value == 1234567.84
    assert all(cell.font.b for cell in total)
    assert not any(cell.font.b for cell in sheet[2])
