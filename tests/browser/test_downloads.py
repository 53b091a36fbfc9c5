"""In a real browser, the list's download links give files named for the selection, whose totals
are the page's."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from invoices.models import Municipality
from tests import factories

pytestmark = pytest.mark.integration


def test_the_list_downloads_its_selection(
    page: Any, login: Any, merkantil_a: Any, kommune_a: Municipality, tmp_path: Path
) -> None:
    sor = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    factories.basis(kommune_a, unit_obj=sor, lines=[{"quantity": "4", "unit_price_ore": 21500}])
    factories.basis(kommune_a, unit_obj=sor, lines=[{"quantity": "1.5", "unit_price_ore": 30000}])
    factories.basis(kommune_a, lines=[{"quantity": "1", "unit_price_ore": 99900}])  # HJT-NORD
    login("merkantil_a")
    page.goto("/fakturagrunnlag/?period=2026-10&unit=HJT-SOR")
    page.wait_for_selector("[data-testid=total-sum]")
    shown = page.inner_text("[data-testid=total-sum]").replace("\u00a0", " ")
    assert shown == "1 310,00 kr"
    number = shown.removesuffix(" kr").replace(" ", "")  # the file's way: no grouping, no unit

    with page.expect_download() as info:
        page.click("text=Last ned (Excel)")
    download = info.value
    assert download.suggested_filename == "fakturagrunnlag_9999_2026-10_HJT-SOR.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sheet = openpyxl.load_workbook(saved)["Grunnlag"]
    assert sheet.max_row == 4  # header, two bases, total
    assert Decimal(str(sheet.cell(4, 14).value)) == Decimal("1310")

    with page.expect_download() as info:
        page.click("text=Last ned grunnlag (CSV)")
    download = info.value
    assert download.suggested_filename == "fakturagrunnlag_9999_2026-10_HJT-SOR.csv"
    raw = Path(download.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline=""), delimiter=";"))
    assert rows[-1][13] == number == "1310,00"
