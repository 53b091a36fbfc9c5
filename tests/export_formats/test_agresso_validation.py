"""Each blocking error and warning of LG04 and CS15, order ids, and settings checks."""

from __future__ import annotations

import dataclasses
import io
import itertools
from decimal import Decimal

import pytest

from exports.formats import agresso_cs15, agresso_lg04
from exports.formats.types import Basis, Finding, FormatError
from tests.export_formats import readers, samples

CLASSIC = samples.LG04_CLASSIC


def _codes(findings: list[Finding], severity: str = "error") -> list[str]:
    return [f.code for f in findings if f.severity == severity]


def _one_line(payer=samples.KARI, **line_kw: object) -> Basis:  # type: ignore[no-untyped-def]
    return samples.basis(20, payer, (samples.line(1, **line_kw),))


def _assert_blocks(
    bases: list[Basis], code: str, options: agresso_lg04.AgressoOptions = CLASSIC
) -> list[Finding]:
    findings = agresso_lg04.validate(bases, options)
    assert code in _codes(findings), findings
    with pytest.raises(FormatError) as exc:
        agresso_lg04.write(bases, options, io.BytesIO(), itertools.count(1))
    assert code in [f.code for f in exc.value.findings]
    return [f for f in findings if f.code == code]


def test_sample_bases_have_no_errors() -> None:
    for options in (samples.LG04_CLASSIC, samples.LG04_WIDE):
        findings = agresso_lg04.validate(samples.BASES, options)
        assert _codes(findings) == []
        assert [(f.code, f.basis_pk) for f in findings] == [("transliterated", 2)]


def test_missing_customer_number_in_apar_id_mode() -> None:
    payer = dataclasses.replace(samples.KARI, customer_number="")
    (finding,) = _assert_blocks([_one_line(payer)], "missing_customer_number")
    assert finding.field == "payer.customer_number"
    assert samples.FNR_OTHER not in finding.message
    # The same payer is fine where customers are referenced by fnr/orgnr.
    by_id = dataclasses.replace(CLASSIC, customer_mode="id_in_text")
    assert _codes(agresso_lg04.validate([_one_line(payer)], by_id)) == []


def test_customer_number_too_wide_for_classic() -> None:
    payer = dataclasses.replace(samples.KARI, customer_number="123456789")
    _assert_blocks([_one_line(payer)], "customer_number_too_wide")
    wide = agresso_lg04.validate(
        [_one_line(payer)], dataclasses.replace(samples.LG04_WIDE, customer_mode="apar_id")
    )
    assert _codes(wide) == []


def test_invalid_id_in_text_mode() -> None:
    payer = dataclasses.replace(samples.KARI, identifier="14819010171")
    by_id = dataclasses.replace(CLASSIC, customer_mode="id_in_text")
    _assert_blocks([_one_line(payer)], "invalid_customer_id", by_id)


def test_empty_required_dimension() -> None:
    no_project = {"ansvar": "3100", "tjeneste": "25400"}
    (finding,) = _assert_blocks([_one_line(dimensions=no_project)], "required_dimension_missing")
    assert finding.field == "lines[0].dimensions.prosjekt"
    assert "dim_5" in finding.message
    optional = dataclasses.replace(CLASSIC, required_slots=frozenset())
    assert _codes(agresso_lg04.validate([_one_line(dimensions=no_project)], optional)) == []


def test_dimension_too_wide_for_its_slot() -> None:
    # Classic dim_1 is 8 wide, wide dim_1 25.
    dims = {**samples.DIMS, "ansvar": "123456789"}
    _assert_blocks([_one_line(dimensions=dims)], "dimension_too_wide")
    assert _codes(agresso_lg04.validate([_one_line(dimensions=dims)], samples.LG04_WIDE)) == []


def test_unknown_article() -> None:
    (finding,) = _assert_blocks([_one_line(agresso_article="")], "unknown_article")
    assert finding.field == "lines[0].agresso_article"
    _assert_blocks([_one_line(agresso_article="A" * 16)], "article_too_wide")


def test_amount_too_wide() -> None:
    # Classic amount is 17 wide: 16 digits after a possible minus.
    huge = _one_line(
        quantity=Decimal("1000000.00"),
        unit_price_ore=99_999_999_999,
        amount_ore=99_999_999_999_000_000,
    )
    _assert_blocks([huge], "amount_too_wide")


def test_quantity_precision_and_amount_mismatch() -> None:
    _assert_blocks(
        [_one_line(quantity=Decimal("1.001"), unit_price_ore=1000, amount_ore=1001)],
        "quantity_precision",
    )
    _assert_blocks([_one_line(amount_ore=1)], "amount_mismatch")


def test_vat_code_too_wide() -> None:
    _assert_blocks([_one_line(vat_code="250")], "vat_code_too_wide")


def test_missing_required_settings() -> None:
    options = dataclasses.replace(CLASSIC, client="", batch_id="")
    findings = agresso_lg04.validate([_one_line()], options)
    assert [(f.code, f.field) for f in findings if f.severity == "error"] == [
        ("missing_setting", "options.client"),
        ("missing_setting", "options.batch_id"),
    ]
    with pytest.raises(FormatError):
        agresso_lg04.write([_one_line()], options, io.BytesIO(), itertools.count(1))


def test_settings_wider_than_the_layout_raise() -> None:
    with pytest.raises(ValueError, match="client"):
        dataclasses.replace(CLASSIC, client="BYX")
    assert dataclasses.replace(samples.LG04_WIDE, client="BYX").client == "BYX"
    with pytest.raises(ValueError, match="dim_3"):
        dataclasses.replace(CLASSIC, required_slots=frozenset({3}))
    with pytest.raises(ValueError, match="topptekst"):
        dataclasses.replace(CLASSIC, header_text_template="{payer_name}")


def test_header_text_and_description_cut_are_warnings() -> None:
    options = dataclasses.replace(CLASSIC, header_text_template="{unit_name} " + "x" * 120)
    long_description = _one_line(description="D" * 36)
    findings = agresso_lg04.validate([long_description], options)
    assert _codes(findings) == []
    assert set(_codes(findings, "warning")) == {"header_text_cut", "description_cut"}


def test_order_ids_one_per_basis_and_running_out() -> None:
    out = io.BytesIO()
    summary = agresso_lg04.write(samples.BASES, CLASSIC, out, iter([7, 8, 9, 10]))
    assert summary.order_ids == {1: 7, 2: 8, 3: 9, 4: 10}
    orders = readers.read_agresso(io.BytesIO(out.getvalue()), CLASSIC)
    assert [o.order_id for o in orders] == [7, 8, 9, 10]
    with pytest.raises(ValueError, match="brukt opp"):
        agresso_lg04.write(samples.BASES, CLASSIC, io.BytesIO(), iter([1, 2, 3]))


def test_zero_amount_bases_get_no_order() -> None:
    zero = _one_line(quantity=Decimal("0.00"), amount_ore=0)
    options = dataclasses.replace(CLASSIC, include_zero_amount=False)
    summary = agresso_lg04.write([samples.BASES[0], zero], options, io.BytesIO(), iter([5]))
    assert summary.order_ids == {1: 5}
    assert summary.skipped_pks == [20]


def test_order_id_too_wide_for_classic() -> None:
    with pytest.raises(FormatError) as exc:
        agresso_lg04.write([_one_line()], CLASSIC, io.BytesIO(), iter([1_000_000_000]))
    assert exc.value.findings[0].code == "field_overflow"
    assert exc.value.findings[0].field == "order_id"


def test_cs15_missing_customer_number_and_invalid_id() -> None:
    no_number = dataclasses.replace(samples.KARI, customer_number="")
    bad_id = dataclasses.replace(samples.AILE, identifier="55899010043")
    findings = agresso_cs15.validate_customers([no_number, bad_id], samples.CS15)
    assert _codes(findings) == ["missing_customer_number", "invalid_customer_id"]
    with pytest.raises(FormatError):
        agresso_cs15.write_customers([no_number], samples.CS15, io.BytesIO())
    too_wide = dataclasses.replace(samples.KARI, customer_number="1234567890")
    assert _codes(agresso_cs15.validate_customers([too_wide], samples.CS15)) == [
        "customer_number_too_wide"
    ]


def test_cs15_one_record_per_distinct_payer() -> None:
    out = io.BytesIO()
    payers = [samples.KARI, samples.AILE, samples.KARI]
    summary = agresso_cs15.write_customers(payers, samples.CS15, out)
    assert summary.count == 2
    read = readers.read_customers(io.BytesIO(out.getvalue()), samples.CS15)
    assert [c.identifier for c in read] == [samples.FNR_OTHER, samples.DNR]
