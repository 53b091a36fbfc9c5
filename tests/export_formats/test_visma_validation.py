"""Each blocking error and warning of the Visma file, and that `write()` refuses what `validate()`
blocks."""

from __future__ import annotations

import dataclasses
import io
from decimal import Decimal

import pytest

from exports.formats import visma_file
from exports.formats.types import Basis, Finding, FormatError
from tests.export_formats import samples

OPTIONS = samples.VISMA_EXTENDED


def _codes(findings: list[Finding], severity: str = "error") -> list[str]:
    return [f.code for f in findings if f.severity == severity]


def _one_line(**line_kw: object) -> Basis:
    return samples.basis(10, samples.KARI, (samples.line(1, **line_kw),))


def _assert_blocks(bases: list[Basis], code: str, options: visma_file.VismaFileOptions = OPTIONS):
    findings = visma_file.validate(bases, options)
    assert code in _codes(findings), findings
    with pytest.raises(FormatError) as exc:
        visma_file.write(bases, options, io.BytesIO())
    assert code in [f.code for f in exc.value.findings]
    return [f for f in findings if f.code == code]


def test_sample_bases_have_no_errors() -> None:
    findings = visma_file.validate(samples.BASES, OPTIONS)
    assert _codes(findings) == []
    assert sorted(set(_codes(findings, "warning"))) == [
        "name_cut",
        "source_reference_cut",
        "transliterated",
    ]
    transliterated = [f for f in findings if f.code == "transliterated"]
    assert [f.basis_pk for f in transliterated] == [2]  # only the basis with Sámi letters


def test_unknown_vare_mapping() -> None:
    (finding,) = _assert_blocks([_one_line(visma_vare="")], "unknown_vare")
    assert finding.basis_pk == 10
    assert finding.reference == "9999-000000010"
    assert finding.field == "lines[0].visma_vare"


def test_invalid_vare_and_oppdragsgiver() -> None:
    _assert_blocks([_one_line(visma_vare="12345")], "invalid_vare")
    _assert_blocks([_one_line(visma_oppdragsgiver="13")], "invalid_oppdragsgiver")


def test_missing_oppdragsgiver_uses_default_or_blocks() -> None:
    basis = _one_line(visma_oppdragsgiver="")
    _assert_blocks([basis], "unknown_oppdragsgiver")
    with_default = dataclasses.replace(OPTIONS, default_oppdragsgiver="099")
    assert _codes(visma_file.validate([basis], with_default)) == []
    out = io.BytesIO()
    visma_file.write([basis], with_default, out)
    assert out.getvalue().split(b"\r\n")[1][139:142] == b"099"


def test_invalid_customer_id() -> None:
    payer = dataclasses.replace(samples.KARI, identifier="14819010171")  # wrong check digit
    (finding,) = _assert_blocks(
        [samples.basis(11, payer, (samples.line(1),))], "invalid_customer_id"
    )
    assert "14819010171" not in finding.message  # masked in the report
    org = dataclasses.replace(samples.SJOGLOTT, identifier="988077918")
    _assert_blocks([samples.basis(12, org, (samples.line(1),))], "invalid_customer_id")


def test_missing_postcode_blocks() -> None:
    payer = dataclasses.replace(samples.KARI, postcode="")
    _assert_blocks([samples.basis(13, payer, (samples.line(1),))], "missing_postcode")
    payer = dataclasses.replace(samples.KARI, postcode="99")
    _assert_blocks([samples.basis(13, payer, (samples.line(1),))], "invalid_postcode")


def test_amount_too_wide() -> None:
    # 100 000 000,00 kr does not fit ten digits of øre.
    basis = _one_line(quantity=Decimal("1.00"), unit_price_ore=9_999_999, amount_ore=9_999_999)
    assert _codes(visma_file.validate([basis], OPTIONS)) == []
    huge = _one_line(
        quantity=Decimal("100.00"), unit_price_ore=100_000_000, amount_ore=10_000_000_000
    )
    codes = _codes(visma_file.validate([huge], OPTIONS))
    assert "amount_too_wide" in codes
    assert "price_too_wide" in codes
    _assert_blocks([huge], "amount_too_wide")


def test_more_than_99_running_numbers() -> None:
    # 100 lines with the same customer, oppdragsgiver and vare in one file.
    bases = [
        samples.basis(100 + i, samples.KARI, tuple(samples.line(j) for j in range(1, 11)))
        for i in range(10)
    ]
    assert _codes(visma_file.validate(bases, OPTIONS)) == ["too_many_running_numbers"]
    extra = samples.basis(200, samples.KARI, (samples.line(1),))
    findings = _assert_blocks([*bases, extra], "too_many_running_numbers")
    # Lines 1..99 fit; the 100th (last line of the tenth basis) and the 101st do not.
    assert [(f.basis_pk, f.field) for f in findings] == [(109, "lines[9]"), (200, "lines[0]")]
    other_vare = samples.basis(201, samples.KARI, (samples.line(1, visma_vare="0101"),))
    assert _codes(visma_file.validate([*bases[:9], other_vare], OPTIONS)) == []


def test_more_than_99_text_lines_after_wrapping() -> None:
    # 60 texts of 60 characters each wrap into 120 LT lines.
    long_text = "ord " * 15
    basis = _one_line(texts=(long_text.strip(),) * 60)
    (finding,) = _assert_blocks([basis], "too_many_text_lines")
    assert "120" in finding.message
    fits = _one_line(texts=("kort tekst",) * 99)
    assert _codes(visma_file.validate([fits], OPTIONS)) == []


def test_fractional_quantity_with_whole_units() -> None:
    whole = dataclasses.replace(OPTIONS, quantity_decimals=0)
    basis = _one_line(quantity=Decimal("12.50"), unit_price_ore=9800, amount_ore=122500)
    assert _codes(visma_file.validate([basis], OPTIONS)) == []
    _assert_blocks([basis], "fractional_quantity", whole)
    integral = _one_line(quantity=Decimal("3.00"), unit_price_ore=9800, amount_ore=29400)
    out = io.BytesIO()
    visma_file.write([integral], whole, out)
    assert out.getvalue().split(b"\r\n")[1][157:166] == b"000000003"


def test_quantity_with_three_decimals_and_wrong_amount() -> None:
    _assert_blocks(
        [_one_line(quantity=Decimal("1.005"), unit_price_ore=100, amount_ore=101)],
        "quantity_precision",
    )
    _assert_blocks([_one_line(amount_ore=86001)], "amount_mismatch")


def test_amount_rounding_half_away_from_zero_is_accepted() -> None:
    # −50,255 kr: −5025,5 øre rounds to −5026.
    basis = _one_line(quantity=Decimal("-0.50"), unit_price_ore=10051, amount_ore=-5026)
    assert _codes(visma_file.validate([basis], OPTIONS)) == []


def test_dimension_and_vat_code_too_wide() -> None:
    _assert_blocks([_one_line(dimensions={"ansvar": "1234567890123"})], "dimension_too_wide")
    _assert_blocks([_one_line(vat_code="1234")], "vat_code_too_wide")


def test_reference_too_wide() -> None:
    basis = dataclasses.replace(_one_line(), reference="9999-0000000000000000001")
    _assert_blocks([basis], "reference_too_wide")


def test_basis_without_lines() -> None:
    _assert_blocks([samples.basis(14, samples.KARI, ())], "no_lines")


def test_warnings_for_cut_names_and_addresses() -> None:
    payer = dataclasses.replace(samples.KARI, name="N" * 41, address1="A" * 41)
    findings = visma_file.validate([samples.basis(15, payer, (samples.line(1),))], OPTIONS)
    assert _codes(findings) == []
    assert set(_codes(findings, "warning")) == {"name_cut", "address_cut"}
    basic = visma_file.validate(
        [samples.basis(15, dataclasses.replace(payer, name="N" * 31), (samples.line(1),))],
        samples.VISMA_BASIC,
    )
    assert "name_cut" in _codes(basic, "warning")


def test_zero_amount_bases_left_out_by_option() -> None:
    zero = _one_line(quantity=Decimal("0.00"), amount_ore=0)
    options = dataclasses.replace(OPTIONS, include_zero_amount=False)
    out = io.BytesIO()
    summary = visma_file.write([samples.BASES[0], zero], options, out)
    assert summary.skipped_pks == [10]
    assert summary.count == 1
    assert out.getvalue().count(b"\r\nFL") == 1
    kept = visma_file.write([samples.BASES[0], zero], OPTIONS, io.BytesIO())
    assert kept.count == 2


def test_invalid_options_raise() -> None:
    with pytest.raises(ValueError, match="oppdragsgiver"):
        visma_file.VismaFileOptions(default_oppdragsgiver="13")
    with pytest.raises(ValueError, match="KB01"):
        visma_file.VismaFileOptions(kb_slots=("a",) * 11)
    with pytest.raises(ValueError, match="tegnsett"):
        visma_file.VismaFileOptions(encoding="utf-8")  # type: ignore[arg-type]
