"""Layouts load from the product's own CSVs, equal the spec's tables, and are checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from exports.formats import agresso_cs15, agresso_lg04, layout, visma_file
from exports.formats.layout import FieldSpec, Kind, LayoutError

# The spec lives beside the repository (shared/), here and in CI.
SPEC_LAYOUTS = Path(__file__).resolve().parents[3] / "shared" / "spec" / "layouts"


@pytest.mark.parametrize("name", ["visma_fakturering.csv", "agresso_lg04.csv", "agresso_cs15.csv"])
def test_product_layouts_equal_the_spec(name: str) -> None:
    spec = SPEC_LAYOUTS / name
    if not spec.exists():
        pytest.skip("spec folder not beside the project")
    assert (layout.LAYOUT_DIR / name).read_bytes() == spec.read_bytes()


def test_record_lengths() -> None:
    lengths = {
        record: visma_file.record_layout(record).length for record in visma_file.RECORD_LENGTHS
    }
    assert lengths == {"ST": 63, "FL_basic": 163, "FL_extended": 397, "LT": 74, "SL": 10}
    assert agresso_lg04.record_layout("classic").length == 1905
    assert agresso_lg04.record_layout("wide").length == 4324
    assert agresso_cs15.record_layout().length == 1608


def test_kinds_from_vendor_type_words() -> None:
    classic = agresso_lg04.record_layout("classic")
    wide = agresso_lg04.record_layout("wide")
    assert classic.field("amount").kind is Kind.SIGNED  # n17 (x100)
    assert classic.field("confirm_date").kind is Kind.DATE  # d17
    assert classic.field("period").kind is Kind.NUMBER  # i8 = 00YYYYMM
    assert wide.field("amount").kind is Kind.SIGNED  # money
    assert wide.field("value_1").kind is Kind.SIGNED  # float
    assert wide.field("order_id").kind is Kind.NUMBER  # bigint
    assert not classic.has("apar_gr_id") and wide.has("apar_gr_id")  # "-" = not in this variant
    assert agresso_cs15.record_layout().field("apar_id").kind is Kind.RIGHT
    fl = visma_file.record_layout("FL_extended")
    assert fl.field("PRIS").kind is Kind.SIGN_LAST
    assert fl.field("KUNDENR").kind is Kind.NUMBER
    with pytest.raises(LayoutError):
        layout.kind_of("x12")


def _write(tmp_path: Path, rows: str) -> str:
    (tmp_path / "t.csv").write_text("field,start,len,type\n" + rows, encoding="utf-8")
    return "t.csv"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a,1,2,c2\nb,4,2,c2\n", "gap"),
        ("a,1,2,c2\nb,2,2,c2\n", "overlaps"),
        ("a,1,2,c2\na,3,2,c2\n", "twice"),
        ("a,2,2,c2\n", "gap"),
        ("a,1,2,c2\nb,3,2,c2\n", "expected 5"),
    ],
)
def test_invalid_layouts_fail_on_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: str, message: str
) -> None:
    monkeypatch.setattr(layout, "LAYOUT_DIR", tmp_path)
    layout.load_layout.cache_clear()
    try:
        with pytest.raises(LayoutError, match=message):
            layout.load_layout(_write(tmp_path, rows), expected_length=5)
    finally:
        layout.load_layout.cache_clear()


def test_a_valid_small_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "LAYOUT_DIR", tmp_path)
    layout.load_layout.cache_clear()
    try:
        loaded = layout.load_layout(_write(tmp_path, "b,3,3,n3\na,1,2,c2\n"), expected_length=5)
    finally:
        layout.load_layout.cache_clear()
    assert loaded.fields == (
        FieldSpec("a", 1, 2, Kind.TEXT),
        FieldSpec("b", 3, 3, Kind.NUMBER),
    )
