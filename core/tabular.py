"""Tables for people to download: one description of the columns, written as CSV or as XLSX.

Both are made for Excel in Norway. The CSV is UTF-8 with a BOM (or Excel guesses Windows-1252),
separated by semicolons (the list separator of a Norwegian Excel), with a decimal comma and no
thousands separator, so amounts arrive as numbers; dates are dd.mm.åååå and times dd.mm.åååå tt:mm
in Europe/Oslo. The XLSX has real numbers and dates with a number format, a bold and frozen header
row and set column widths.

Neither holds a month in memory. The CSV is written as the rows come, a chunk at a time, into a
streaming response; the XLSX is written by openpyxl's write-only mode into a temporary file, which
a file response then sends. Rows come from an iterator the caller builds (`.iterator(chunk_size=…)`
over `values_list`), and a row marked as `Total` is the table's total line (bold in XLSX).

A text in a column of numbers (the words of a total line) is written as text. A cell that starts
like a formula (`=`, `+`, `-`, `@`) is text, never a formula: names and texts
come from the care system, and a downloaded file must not run anything when opened.
"""

from __future__ import annotations

import datetime
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header

OSLO = ZoneInfo("Europe/Oslo")
BOM = "\ufeff"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows per chunk of a streamed CSV: some tens of kilobytes, so the first bytes leave at once and
# memory stays flat.
CSV_ROWS_PER_CHUNK = 500


class Kind(Enum):
    TEXT = "text"
    # Text that Excel would read as a number and spoil: national and organisation numbers,
    # references, KIDs (leading zeros lost, long numbers rounded to 15 digits).
    CODE = "code"
    INTEGER = "integer"
    MONEY = "money"  # integer øre, shown as kroner with two decimals
    QUANTITY = "quantity"  # Decimal with two places
    DATE = "date"
    DATETIME = "datetime"


_TEXT_KINDS = (Kind.TEXT, Kind.CODE)
# Excel's number formats; Excel shows them with the reader's own separators.
_XLSX_FORMATS = {
    Kind.INTEGER: "0",
    Kind.MONEY: "#,##0.00",
    Kind.QUANTITY: "#,##0.00",
    Kind.DATE: "dd.mm.yyyy",
    Kind.DATETIME: "dd.mm.yyyy hh:mm",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 cannot hold; openpyxl refuses them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Codes Excel would take for a number or a date when it opens a CSV.
_EXCEL_WOULD_CONVERT = re.compile(r"[0-9][0-9 ,./:-]*|[0-9]+[eE][0-9]+")
_FILE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Column:
    header: Any  # str or a lazy translation
    kind: Kind = Kind.TEXT
    width: int = 14  # characters, for the XLSX


class Total(tuple):  # type: ignore[type-arg]
    """A table's total line: written like any row, bold in XLSX."""

    __slots__ = ()


@dataclass
class Table:
    """One sheet: a title (the XLSX sheet name), the columns and the rows, produced lazily."""

    title: Any
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]


def file_name_part(value: str) -> str:
    """A code as part of a file name: only letters, digits, `.`, `_` and `-` survive."""
    return _FILE_NAME_UNSAFE.sub("-", value).strip("-.") or "x"


# --- CSV -----------------------------------------------------------------------------------------


def kroner(ore: int) -> str:
    """Integer øre as kroner for a CSV cell: 123456 → `1234,56`, −5 → `-0,05`."""
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(int(ore)), 100)
    return f"{sign}{whole},{part:02d}"


class _Formula(str):
    """A cell written as it is, unquoted: Excel reads `="…"` as the text inside."""

    __slots__ = ()


def csv_cell(value: Any, kind: Kind) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str) and kind not in _TEXT_KINDS:
        kind = Kind.TEXT  # a total line's words in a column of numbers
    if kind is Kind.MONEY:
        return kroner(value)
    if kind is Kind.QUANTITY:
        return f"{Decimal(value):.2f}".replace(".", ",")
    if kind is Kind.INTEGER:
        return str(int(value))
    if kind is Kind.DATETIME:
        return value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")
    if kind is Kind.DATE:
        return value.strftime("%d.%m.%Y")
    text = str(value)
    if kind is Kind.CODE and _EXCEL_WOULD_CONVERT.fullmatch(text):
        # 01019012345 stays 01019012345, a 25-digit KID is not rounded, 2026-10 is no date.
        return _Formula(f'="{text}"')
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _csv_field(text: str) -> str:
    if isinstance(text, _Formula):
        return text
    if any(c in text for c in ';"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: Iterable[str]) -> str:
    """One CSV record: `;` between fields, quoted only where needed, CRLF at the end."""
    return ";".join(_csv_field(cell) for cell in cells) + "\r\n"


def csv_chunks(table: Table) -> Iterator[bytes]:
    """The table as UTF-8 CSV with a BOM, in chunks of `CSV_ROWS_PER_CHUNK` rows."""
    kinds = [column.kind for column in table.columns]
    lines = [BOM + csv_line(str(column.header) for column in table.columns)]
    for row in table.rows:
        lines.append(
            csv_line(csv_cell(value, kind) for value, kind in zip(row, kinds, strict=True))
        )
        if len(lines) >= CSV_ROWS_PER_CHUNK:
            yield "".join(lines).encode("utf-8")
            lines = []
    yield "".join(lines).encode("utf-8")


def _in_language(language: str | None, chunks: Iterator[bytes]) -> Iterator[bytes]:
    # The response is written after the view has returned and the request's language has ended.
    with translation.override(language):
        yield from chunks


def csv_response(table: Table, file_name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _in_language(translation.get_language(), csv_chunks(table)),
        content_type=CSV_CONTENT_TYPE,
    )
    response["Content-Disposition"] = content_disposition_header(True, file_name) or "attachment"
    return response


# --- XLSX ----------------------------------------------------------------------------------------


def _sheet_title(title: str, used: set[str]) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "-", title)[:31] or "Ark"
    base, n = name, 2
    while name.lower() in used:
        suffix = f" {n}"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def _xlsx_value(value: Any, kind: Kind) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and kind not in _TEXT_KINDS:
        kind = Kind.TEXT
    if kind is Kind.MONEY:
        return Decimal(int(value)).scaleb(-2)
    if kind is Kind.QUANTITY:
        return Decimal(value)
    if kind is Kind.INTEGER:
        return int(value)
    if kind is Kind.DATETIME:
        return value.astimezone(OSLO).replace(tzinfo=None)
    if kind is Kind.DATE:
        return value if not isinstance(value, datetime.datetime) else value.date()
    return _XML_ILLEGAL.sub("", str(value))


def write_xlsx(tables: Sequence[Table], handle: IO[bytes]) -> None:
    """Write the tables, one sheet each, into `handle` with openpyxl in write-only mode."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    used: set[str] = set()
    for table in tables:
        sheet = workbook.create_sheet(_sheet_title(str(table.title), used))
        for index, column in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = column.width
        sheet.freeze_panes = "A2"
        header = [
            _cell(sheet, _xml_text(str(c.header)), Kind.TEXT, bold=True) for c in table.columns
        ]
        sheet.append(header)
        kinds = [column.kind for column in table.columns]
        # One styled cell per column of numbers or dates, given each row's value in turn:
        # openpyxl writes a row's cells before it takes the next row, and a cell made per value
        # would cost more than the rest of the writing.
        styled = [_cell(sheet, None, kind) if kind in _XLSX_FORMATS else None for kind in kinds]
        for row in table.rows:
            if isinstance(row, Total):
                sheet.append(
                    [
                        _cell(sheet, _xlsx_value(value, kind), kind, bold=True)
                        for value, kind in zip(row, kinds, strict=True)
                    ]
                )
                continue
            values: list[Any] = []
            for value, kind, cell in zip(row, kinds, styled, strict=True):
                value = _xlsx_value(value, kind)
                if isinstance(value, str):
                    # A text openpyxl would take for a formula is written as text.
                    values.append(
                        _cell(sheet, value, Kind.TEXT) if value.startswith("=") else value
                    )
                elif value is None or cell is None:
                    values.append(value)
                else:
                    cell.value = value
                    values.append(cell)
            sheet.append(values)
    workbook.save(handle)


def _cell(sheet: Any, value: Any, kind: Kind, *, bold: bool = False) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    elif kind in _XLSX_FORMATS:
        cell.number_format = _XLSX_FORMATS[kind]
    if bold:
        cell.font = Font(bold=True)
    return cell


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def xlsx_response(tables: Sequence[Table], file_name: str) -> FileResponse:
    """The workbook in a temporary file (gone when the response closes it), sent as a file."""
    handle = tempfile.TemporaryFile(suffix=".xlsx")
    try:
        write_xlsx(tables, handle)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return FileResponse(
        handle, as_attachment=True, filename=file_name, content_type=XLSX_CONTENT_TYPE
    )


def table_response(
    table: Table, file_name: str, extension: str
) -> StreamingHttpResponse | FileResponse:
    """One table as the download asked for: streamed CSV for "csv", else an XLSX workbook."""
    if extension == "csv":
        return csv_response(table, file_name)
    return xlsx_response([table], file_name)


def today_in_norway() -> str:
    """Today's date in Norway as `2026-12-06`, for a download's file name."""
    return timezone.now().astimezone(OSLO).date().isoformat()
