"""Reading downloads back as Excel would: the CSV with its BOM and semicolons, the XLSX with
openpyxl; and reading a page's numbers, to hold the files to them."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import openpyxl
from django.test import Client

from core.tabular import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE

BOM = b"\xef\xbb\xbf"


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def content(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def read_csv(response: Any) -> list[list[str]]:
    """The rows of a CSV download, after checking what makes Excel in Norway read it right."""
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == CSV_CONTENT_TYPE
    raw = content(response)
    assert raw.startswith(BOM), "no BOM: Excel would read the file as Windows-1252"
    text = raw[len(BOM) :].decode("utf-8")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    return [[_unwrap(cell) for cell in row] for row in rows]


def _unwrap(cell: str) -> str:
    """`="0123"` is how the file keeps a code from becoming a number: Excel shows 0123."""
    match = re.fullmatch(r'="([^"]*)"', cell)
    return match.group(1) if match else cell


def read_xlsx(response: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet of an XLSX download as rows of cell values."""
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == XLSX_CONTENT_TYPE
    workbook = openpyxl.load_workbook(io.BytesIO(content(response)))
    return {
        sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in workbook.worksheets
    }


def load_xlsx(response: Any) -> Any:
    return openpyxl.load_workbook(io.BytesIO(content(response)))


def as_dicts(rows: list[list[str]] | list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Data rows (header and total line left out) keyed by the header."""
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:-1]]


def csv_ore(text: str) -> int:
    """A CSV amount (`-1234,56`) in øre; refuses anything Excel would not read as a number."""
    assert re.fullmatch(r"-?[0-9]+,[0-9]{2}", text), f"not an Excel number: {text!r}"
    return int(Decimal(text.replace(",", ".")) * 100)


def xlsx_ore(value: Any) -> int:
    assert isinstance(value, int | float), f"not a number cell: {value!r}"
    return round(Decimal(str(value)) * 100)


def text_ore(text: str) -> int:
    """An amount as the pages write it (`−1 234,56 kr`, no-break spaces) in øre."""
    plain = text.replace("\u00a0", "").replace(" ", "").replace("−", "-")
    assert plain.endswith("kr"), f"not an amount in kroner: {text!r}"
    return int(Decimal(plain.removesuffix("kr").replace(",", ".")) * 100)


def page_ore(html: str, testid: str) -> int:
    """An amount a page shows (`1 234,56 kr` with no-break spaces, `−` for minus) in øre."""
    match = re.search(rf'data-testid="{testid}">([^<]+)<', html)
    assert match, f"no {testid} on the page"
    text = match.group(1).replace("\u00a0", "").replace(" ", "").replace("−", "-")
    assert text.endswith("kr"), f"{testid} is not an amount in kroner: {match.group(1)!r}"
    text = text.removesuffix("kr")
    return int(Decimal(text.replace(",", ".")) * 100)


def page_number(html: str, testid: str) -> int:
    match = re.search(rf'data-testid="{testid}">([^<]+)<', html)
    assert match, f"no {testid} on the page"
    return int(match.group(1))
