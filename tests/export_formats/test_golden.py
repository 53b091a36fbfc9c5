"""Each layout written from the fixed sample bases equals its golden file, byte for byte; and a
few positions are asserted from the layout tables and the spec's worked example, so a golden file
rewritten by mistake still fails."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from exports.formats import agresso_cs15, agresso_lg04, visma_file
from tests.export_formats import golden, samples
from tests.export_formats.golden import assert_golden


def _visma(options: visma_file.VismaFileOptions) -> list[bytes]:
    out = io.BytesIO()
    visma_file.write(samples.BASES, options, out)
    return out.getvalue().split(b"\r\n")


def _lg04(options: agresso_lg04.AgressoOptions) -> bytes:
    out = io.BytesIO()
    agresso_lg04.write(samples.BASES, options, out, itertools.count(samples.FIRST_ORDER_ID))
    return out.getvalue()


def _cut(line: bytes, start: int, length: int) -> str:
    """A field by its 1-based start, as the layout tables give it."""
    return line[start - 1 : start - 1 + length].decode("latin-1")


@pytest.mark.parametrize(
    ("name", "options"),
    [("visma_extended.txt", samples.VISMA_EXTENDED), ("visma_basic.txt", samples.VISMA_BASIC)],
)
def test_visma_golden(name: str, options: visma_file.VismaFileOptions) -> None:
    lines = _visma(options)
    assert_golden(name, b"\r\n".join(lines))


def test_visma_extended_positions() -> None:
    lines = _visma(samples.VISMA_EXTENDED)
    assert lines[-1] == b"", "the file ends with a line ending"
    st, fl, lt1, lt2 = lines[0], lines[1], lines[2], lines[3]
    assert len(st) == 63 and st[:2] == b"ST" and st[62:63] == b"U"
    # The worked example in visma-file.md, field by field.
    assert len(fl) == 397
    assert _cut(fl, 1, 13) == "FL14819010170"
    assert _cut(fl, 14, 40) == "Kari Nordmann".ljust(40)
    assert _cut(fl, 134, 44) == "9999BG01301000100021500 0000004000000086000 "
    assert _cut(fl, 149, 9) == "00021500 "  # PRIS 215,00 kr
    assert _cut(fl, 158, 9) == "000000400"  # GRUNNLAG 4,00
    assert _cut(fl, 167, 11) == "0000086000 "  # BELØP 860,00 kr
    assert _cut(fl, 195, 12) == "3100".ljust(12)  # KB01 = ansvar
    assert _cut(fl, 207, 12) == "25400".ljust(12)  # KB02 = tjeneste
    assert _cut(fl, 219, 24) == " " * 24  # KB03, KB04 unused
    assert _cut(fl, 243, 12) == "9".ljust(12)  # KB05 = prosjekt
    assert _cut(fl, 318, 20) == "HJEMMETJ".ljust(20)  # PROFIL
    assert _cut(fl, 378, 20) == "9999-000000001".ljust(20)  # ORDREREF
    assert lt1 == b"LT1481901017001301000101" + b"4 timer praktisk bistand".ljust(50)
    assert lt2 == b"LT1481901017001301000102" + b"Abonnementsgrense 2-3G".ljust(50)
    assert lines[-2] == b"SL00000016"
    assert len(lines) - 1 == 16


def test_visma_credit_organisation_and_sami_letters() -> None:
    lines = _visma(samples.VISMA_EXTENDED)
    fl_lines = [line for line in lines if line.startswith(b"FL")]
    credit = fl_lines[-1]
    assert _cut(credit, 3, 11) == samples.FNR_2032
    assert _cut(credit, 149, 9) == "00021500-"  # the minus moves to PRIS …
    assert _cut(credit, 158, 9) == "000000200"  # … because GRUNNLAG has no sign
    assert _cut(credit, 167, 11) == "0000043000-"
    organisation = fl_lines[3]
    assert _cut(organisation, 3, 11) == "00988077917"
    assert _cut(organisation, 14, 40) == "Sjøgløtt Omsorg og Pleie AS, avdeling fo"
    assert _cut(organisation, 338, 40) == "Øystein Ærlig".ljust(40)  # DERESREF: the recipient
    assert _cut(organisation, 178, 16) == "CURA-KORTTID-202"  # SAKSNR cut, with a warning
    sami = fl_lines[1]
    # ISO-8859-1 holds Á and á but not Č, Ŋ, Đ.
    assert _cut(sami, 14, 40) == "Áile Coalmmát Niillasdottir".ljust(40)
    assert _cut(sami, 54, 40) == "Duoddarluodda 7".ljust(40)
    assert "Áile".encode("latin-1") in sami


def test_visma_wrapped_text_and_running_numbers() -> None:
    lines = _visma(samples.VISMA_EXTENDED)
    meals = [line for line in lines if line.startswith(b"LT55899010042013030001")]
    assert [_cut(line, 23, 2) for line in meals] == ["01", "02", "03", "04"]
    texts = [_cut(line, 25, 50).rstrip() for line in meals]
    assert texts == [
        "Vedtak om praktisk bistand og opplæring i",
        "dagliglivets gjøremål, jf. helse- og",
        "omsorgstjenesteloven § 3-2 første ledd nr. 6",
        "bokstav b",
    ]
    # Two different vare for the same customer: each starts at LØPENR 01.
    sami = [line for line in lines if line.startswith(b"FL55899010042")]
    assert [_cut(line, 143, 6) for line in sami] == ["020001", "030001"]


def test_visma_basic_positions() -> None:
    lines = _visma(samples.VISMA_BASIC)
    assert lines[0][62:63] == b" "  # blank FORMAT selects the basic FL
    fl = lines[1]
    assert len(fl) == 163
    assert _cut(fl, 104, 33) == "9999BG01301000100021500 000000400"
    assert _cut(fl, 148, 16) == "9999-000000001".ljust(16)  # SAKSNR carries the reference


@pytest.mark.parametrize(
    ("name", "options", "length", "ending"),
    [
        ("lg04_classic.txt", samples.LG04_CLASSIC, 1905, b"\r\n"),
        ("lg04_wide.txt", samples.LG04_WIDE, 4324, b"\n"),
    ],
)
def test_lg04_golden(
    name: str, options: agresso_lg04.AgressoOptions, length: int, ending: bytes
) -> None:
    data = _lg04(options)
    assert_golden(name, data)
    lines = data.split(ending)
    assert lines[-1] == b""
    assert {len(line) for line in lines[:-1]} == {length}


def test_lg04_classic_positions() -> None:
    lines = _lg04(samples.LG04_CLASSIC).split(b"\r\n")
    header, item, text1 = lines[0], lines[1], lines[2]
    # Header: accept_flag 1, line_no 0000, customer by apar_id, dates right-aligned in 17.
    assert _cut(header, 1, 1) == "1"
    assert _cut(header, 1053, 4) == "0000"
    assert _cut(header, 210, 8) == "20000815"
    assert _cut(header, 363, 17) == "         20261101"
    assert _cut(header, 1509, 17) == "         20261101"
    assert _cut(header, 1526, 9) == "380000101"
    assert _cut(header, 1539, 8) == "00202610"
    assert _cut(header, 398, 3) == "NOK"
    assert _cut(header, 1741, 1) == "N"
    assert _cut(header, 1804, 2) == "42"
    assert _cut(header, 1061, 120).rstrip() == "Hjemmetjenesten sone nord oktober 2026"
    assert _cut(header, 1032, 15) == "9999-000000001 "
    # Key fields on every line.
    for line in (header, item, text1):
        assert _cut(line, 347, 12) == "AIDN261101A "
        assert _cut(line, 359, 2) == "BY"
        assert _cut(line, 1526, 9) == "380000101"
        assert _cut(line, 1804, 2) == "42"
        assert _cut(line, 1885, 2) == "FK"
    # Item line.
    assert _cut(item, 1, 1) == "0"
    assert _cut(item, 1053, 4) == "0001"
    assert _cut(item, 1645, 8) == "00000000"
    assert _cut(item, 192, 17) == "00000000000086000"
    assert _cut(item, 209, 1) == "1"
    assert _cut(item, 1859, 17) == "00000000000000400"
    assert _cut(item, 283, 15) == "PB01".ljust(15)
    assert _cut(item, 862, 8) == "3100    "
    assert _cut(item, 894, 12) == "9".ljust(12)
    # Text line.
    assert _cut(text1, 1645, 8) == "00000001"
    assert _cut(text1, 1681, 60).rstrip() == "4 timer praktisk bistand"
    # The credit note: a leading minus.
    credit_item = [line for line in lines if _cut(line, 1526, 9) == "380000104"][1]
    assert _cut(credit_item, 192, 17) == "-0000000000043000"
    assert _cut(credit_item, 1859, 17) == "-0000000000000200"


def test_lg04_wide_positions() -> None:
    lines = _lg04(samples.LG04_WIDE).split(b"\n")
    header, item = lines[0], lines[1]
    assert _cut(header, 2494, 4) == "0000"
    assert _cut(header, 3131, 15) == "000000380000101"
    assert _cut(header, 3154, 6) == "202610"
    assert _cut(header, 3123, 8) == "20261101"
    assert _cut(header, 234, 25) == " " * 25  # apar_id blank: the id goes in tekst3/tekst4
    assert _cut(header, 3745, 11) == samples.FNR_OTHER
    assert _cut(header, 3845, 11) == samples.FNR_OTHER
    assert _cut(item, 213, 20) == "00000000000000086000"
    assert _cut(item, 4225, 20) == "00000000000000000400"
    assert _cut(item, 1909, 25) == "3100".ljust(25)


def test_cs15_golden_and_positions() -> None:
    out = io.BytesIO()
    summary = agresso_cs15.write_customers(
        agresso_cs15.distinct_payers(samples.BASES), samples.CS15, out
    )
    data = out.getvalue()
    assert_golden("cs15.txt", data)
    lines = data.split(b"\r\n")[:-1]
    # Four distinct payers (Øystein pays the credit note and is the recipient elsewhere).
    assert summary.count == len(lines) == 4
    assert {len(line) for line in lines} == {1608}
    person, organisation = lines[0], lines[2]
    assert _cut(person, 1, 4) == "1I10"
    assert _cut(person, 5, 9) == " 20000815"
    assert _cut(person, 73, 1) == "R"
    assert _cut(person, 132, 25) == samples.FNR_OTHER.ljust(25)
    assert _cut(person, 157, 1) == "P"
    assert _cut(organisation, 157, 1) == "C"
    assert _cut(organisation, 132, 9) == samples.ORGNR
    assert _cut(person, 178, 3) == "NOK"
    assert _cut(person, 262, 2) == "NO"
    assert _cut(person, 847, 3) == "NO "
    assert _cut(person, 1480, 4) == "9999"


def test_update_golden_rewrites_and_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(golden, "GOLDEN", tmp_path)
    (tmp_path / "x.txt").write_bytes(b"old\n")
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    with pytest.raises(
        pytest.fail.Exception, match=r"x\.txt: golden file rewritten, review the diff"
    ):
        golden.assert_golden("x.txt", b"new\n")
    assert (tmp_path / "x.txt").read_bytes() == b"new\n"
    # Even when nothing changed: a run with UPDATE_GOLDEN set proves nothing.
    with pytest.raises(pytest.fail.Exception, match="golden file rewritten"):
        golden.assert_golden("x.txt", b"new\n")
    monkeypatch.delenv("UPDATE_GOLDEN")
    golden.assert_golden("x.txt", b"new\n")
    with pytest.raises(AssertionError, match="line 1 differs from position 1"):
        golden.assert_golden("x.txt", b"other\n")
