"""Every finding of the Visma file as billing staff read it (code, Bokmål message, severity and
field), the limits at each check's edge, the settings' messages, what the database pre-check is
told, and what `write()` reports."""

from __future__ import annotations

import dataclasses
import io
from decimal import Decimal
from typing import Any

import pytest

from exports.formats import visma_file
from exports.formats.types import Basis, FormatError, Line
from tests.export_formats import readers, samples

EXTENDED = samples.VISMA_EXTENDED
BASIC = samples.VISMA_BASIC
WHOLE = dataclasses.replace(EXTENDED, quantity_decimals=0)


def _basis(*lines: Line, payer: Any = samples.KARI, **kw: Any) -> Basis:
    return samples.basis(10, payer, lines, **kw)


def _line(**kw: Any) -> Line:
    return samples.line(1, **kw)


def _payer(**kw: Any) -> Any:
    return dataclasses.replace(samples.KARI, **kw)


def _findings(basis: Basis, options: visma_file.VismaFileOptions) -> list[tuple[str, ...]]:
    return [(f.severity, f.code, f.message, f.field) for f in visma_file.validate([basis], options)]


E, W = "error", "warning"
TRANSLITERATED = "Tegn som iso-8859-1 ikke har, er byttet ut i filen (for eksempel č → c, ŋ → n)"

CASES: list[tuple[str, Basis, visma_file.VismaFileOptions, list[tuple[str, ...]]]] = [
    ("clean", _basis(_line()), EXTENDED, []),
    (
        "no oppdragsgiver",
        _basis(_line(visma_oppdragsgiver="")),
        EXTENDED,
        [
            (
                E,
                "unknown_oppdragsgiver",
                "Tjenesten PB har ingen oppdragsgiver i Visma, og kommunen har ingen standard",
                "lines[0].visma_oppdragsgiver",
            )
        ],
    ),
    (
        "oppdragsgiver of two digits",
        _basis(_line(visma_oppdragsgiver="13")),
        EXTENDED,
        [
            (
                E,
                "invalid_oppdragsgiver",
                "Oppdragsgiver for tjenesten PB må være tre siffer",
                "lines[0].visma_oppdragsgiver",
            )
        ],
    ),
    (
        "no vare",
        _basis(_line(visma_vare="")),
        EXTENDED,
        [(E, "unknown_vare", "Tjenesten PB mangler varenummer i Visma", "lines[0].visma_vare")],
    ),
    (
        "vare of five digits",
        _basis(_line(visma_vare="12345")),
        EXTENDED,
        [
            (
                E,
                "invalid_vare",
                "Varenummeret for tjenesten PB må være fire siffer",
                "lines[0].visma_vare",
            )
        ],
    ),
    (
        "three decimals",
        _basis(_line(quantity=Decimal("1.005"), unit_price_ore=100, amount_ore=101)),
        EXTENDED,
        [(E, "quantity_precision", "Antall kan ha høyst to desimaler", "lines[0].quantity")],
    ),
    (
        "three decimals, whole units: one finding, not a fraction too",
        _basis(_line(quantity=Decimal("1.005"), unit_price_ore=100, amount_ore=101)),
        WHOLE,
        [(E, "quantity_precision", "Antall kan ha høyst to desimaler", "lines[0].quantity")],
    ),
    (
        "amount is not quantity x price",
        _basis(_line(amount_ore=86001)),
        EXTENDED,
        [(E, "amount_mismatch", "Beløpet er ikke antall × enhetspris", "lines[0].amount_ore")],
    ),
    (
        "fraction with whole units",
        _basis(_line(quantity=Decimal("12.50"), unit_price_ore=9800, amount_ore=122500)),
        WHOLE,
        [
            (
                E,
                "fractional_quantity",
                "Antall 12.50 er ikke et helt tall, og kommunen leverer hele enheter til Visma",
                "lines[0].quantity",
            )
        ],
    ),
    (
        "largest quantity GRUNNLAG holds",
        _basis(_line(quantity=Decimal("9999999.99"), unit_price_ore=0, amount_ore=0)),
        EXTENDED,
        [],
    ),
    (
        "quantity one hundredth too large",
        _basis(_line(quantity=Decimal("10000000.00"), unit_price_ore=0, amount_ore=0)),
        EXTENDED,
        [(E, "quantity_too_wide", "Antallet er for stort", "lines[0].quantity")],
    ),
    (
        "most negative price PRIS holds",
        _basis(_line(quantity=Decimal("1.00"), unit_price_ore=-99_999_999, amount_ore=-99_999_999)),
        EXTENDED,
        [],
    ),
    (
        "price one ore too negative",
        _basis(
            _line(quantity=Decimal("1.00"), unit_price_ore=-100_000_000, amount_ore=-100_000_000)
        ),
        EXTENDED,
        [
            (
                E,
                "price_too_wide",
                "Enhetsprisen får ikke plass i PRIS (høyst 999 999,99 kr)",
                "lines[0].unit_price_ore",
            )
        ],
    ),
    (
        "credit one ore too large for BELOP",
        _basis(
            _line(
                quantity=Decimal("-1000.00"), unit_price_ore=10_000_000, amount_ore=-10_000_000_000
            )
        ),
        EXTENDED,
        [
            (
                E,
                "amount_too_wide",
                "Beløpet får ikke plass i BELØP (høyst 99 999 999,99 kr)",
                "lines[0].amount_ore",
            )
        ],
    ),
    (
        "a letter iso-8859-1 lacks in the address only",
        _basis(_line(), payer=_payer(address1="Đuoddarluodda 7")),
        EXTENDED,
        [(W, "transliterated", TRANSLITERATED, "")],
    ),
    (
        "a letter iso-8859-1 lacks in the name of whom the invoice concerns",
        _basis(_line(), recipient=samples.AILE),
        EXTENDED,
        [(W, "transliterated", TRANSLITERATED, "")],
    ),
    (
        "basic layout: a reference of 16 fits SAKSNR",
        _basis(_line(), reference="9999-00000000010"),
        BASIC,
        [],
    ),
    ("VAT code of three", _basis(_line(vat_code="25%")), EXTENDED, []),
    (
        "VAT code of four",
        _basis(_line(vat_code="1234")),
        EXTENDED,
        [(E, "vat_code_too_wide", "MVA-koden er lengre enn tre tegn", "lines[0].vat_code")],
    ),
    ("VAT code of four, basic layout has no MVAKODE", _basis(_line(vat_code="1234")), BASIC, []),
    (
        "kontering of twelve",
        _basis(_line(dimensions={**samples.DIMS, "ansvar": "123456789012"})),
        EXTENDED,
        [],
    ),
    (
        "kontering of thirteen",
        _basis(_line(dimensions={**samples.DIMS, "ansvar": "1234567890123"})),
        EXTENDED,
        [
            (
                E,
                "dimension_too_wide",
                "Konteringsverdien '1234567890123' (ansvar) er lengre enn 12 tegn",
                "lines[0].dimensions.ansvar",
            )
        ],
    ),
    (
        "wrong check digit",
        _basis(_line(), payer=_payer(identifier="14819010171")),
        EXTENDED,
        [
            (
                E,
                "invalid_customer_id",
                "Betaler 148190*****: Fødselsnummeret har feil kontrollsiffer",
                "payer.identifier",
            )
        ],
    ),
    (
        "no name",
        _basis(_line(), payer=_payer(name="  ")),
        EXTENDED,
        [(E, "missing_name", "Betaler mangler navn", "payer.name")],
    ),
    (
        "no postcode",
        _basis(_line(), payer=_payer(postcode="")),
        EXTENDED,
        [(E, "missing_postcode", "Betaler mangler postnummer", "payer.postcode")],
    ),
    (
        "postcode of two digits",
        _basis(_line(), payer=_payer(postcode="99")),
        EXTENDED,
        [(E, "invalid_postcode", "Betalers postnummer må være fire siffer", "payer.postcode")],
    ),
    (
        "name and address lines at their width",
        _basis(_line(), payer=_payer(name="N" * 40, address1="A" * 40, address2="B" * 40)),
        EXTENDED,
        [],
    ),
    (
        "name and address lines one too long",
        _basis(_line(), payer=_payer(name="N" * 41, address1="A" * 41, address2="B" * 41)),
        EXTENDED,
        [
            (W, "name_cut", "Navnet er kuttet til 40 tegn i filen", "payer.name"),
            (W, "address_cut", "Adresselinjen er kuttet til 40 tegn i filen", "payer.address1"),
            (W, "address_cut", "Adresselinjen er kuttet til 40 tegn i filen", "payer.address2"),
        ],
    ),
    (
        "the place stands in for a missing address line 2",
        _basis(_line(), payer=_payer(address2="", place="P" * 41)),
        EXTENDED,
        [(W, "address_cut", "Adresselinjen er kuttet til 40 tegn i filen", "payer.address2")],
    ),
    (
        "basic layout cuts the name at 30",
        _basis(_line(), payer=_payer(name="N" * 31)),
        BASIC,
        [(W, "name_cut", "Navnet er kuttet til 30 tegn i filen", "payer.name")],
    ),
    ("reference of 20", _basis(_line(), reference="9999-000000000000010"), EXTENDED, []),
    (
        "reference of 21",
        _basis(_line(), reference="9999-0000000000000010"),
        EXTENDED,
        [
            (
                E,
                "reference_too_wide",
                "Referansen er lengre enn 20 tegn (ORDREREF)",
                "reference",
            )
        ],
    ),
    (
        "basic layout: the reference is SAKSNR",
        _basis(_line(), reference="9999-000000000010"),
        BASIC,
        [(E, "reference_too_wide", "Referansen er lengre enn 16 tegn (SAKSNR)", "reference")],
    ),
    ("source reference of 16", _basis(_line(), source_reference="S" * 16), EXTENDED, []),
    (
        "source reference of 17",
        _basis(_line(), source_reference="S" * 17),
        EXTENDED,
        [
            (
                W,
                "source_reference_cut",
                "Kildereferansen er kuttet til 16 tegn i SAKSNR",
                "source_reference",
            )
        ],
    ),
    (
        "no lines",
        _basis(),
        EXTENDED,
        [(E, "no_lines", "Fakturagrunnlaget har ingen linjer", "lines")],
    ),
    (
        "120 text lines after wrapping",
        _basis(_line(texts=(("ord " * 15).strip(),) * 60)),
        EXTENDED,
        [
            (
                E,
                "too_many_text_lines",
                "Linjen har 120 tekstlinjer etter ombrekking; Visma tar høyst 99",
                "lines[0].texts",
            )
        ],
    ),
    (
        "the 100th line of one customer, oppdragsgiver and vare",
        _basis(*(samples.line(n) for n in range(1, 101))),
        EXTENDED,
        [
            (
                E,
                "too_many_running_numbers",
                "Mer enn 99 linjer med samme kunde, oppdragsgiver og vare i én fil (LØPENR)",
                "lines[99]",
            )
        ],
    ),
    (
        "a letter iso-8859-1 lacks",
        _basis(_line(), payer=_payer(name="Čoalmmát")),
        EXTENDED,
        [(W, "transliterated", TRANSLITERATED, "")],
    ),
]


@pytest.mark.parametrize(
    ("basis", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_finding(
    basis: Basis, options: visma_file.VismaFileOptions, expected: list[tuple[str, ...]]
) -> None:
    assert _findings(basis, options) == expected


def test_findings_name_their_basis() -> None:
    (finding,) = visma_file.validate([_basis(_line(visma_vare=""))], EXTENDED)
    assert (finding.basis_pk, finding.reference) == (10, "9999-000000010")


# --- settings ----------------------------------------------------------------------------------

PREFIX = "Ugyldige innstillinger for Visma-fil: "


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"layout": "wide"}, "layout må være extended eller basic"),
        ({"encoding": "utf-8"}, "tegnsett må være iso-8859-1 eller cp1252"),
        ({"line_ending": "\r"}, "linjeskift må være CRLF eller LF"),
        ({"quantity_decimals": 1}, "antall desimaler i GRUNNLAG må være 2 eller 0"),
        ({"default_oppdragsgiver": "13"}, "standard oppdragsgiver må være tre siffer"),
        ({"kb_slots": ("a",) * 11}, "høyst ti konteringsfelt (KB01–KB10)"),
        ({"betform": "XX"}, "betalingsform må være BG eller PG"),
        ({"profil": "P" * 21}, "profil kan være høyst 20 tegn"),
    ],
)
def test_each_bad_setting_is_named(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError) as exc:
        visma_file.VismaFileOptions(**settings)
    assert str(exc.value) == PREFIX + problem


def test_bad_settings_are_named_together() -> None:
    with pytest.raises(ValueError) as exc:
        visma_file.VismaFileOptions(betform="XX", profil="P" * 21)  # type: ignore[arg-type]
    assert str(exc.value) == (
        PREFIX + "betalingsform må være BG eller PG; profil kan være høyst 20 tegn"
    )


def test_settings_at_their_limits_are_accepted() -> None:
    options = visma_file.VismaFileOptions(kb_slots=("a",) * 10, betform="PG", profil="P" * 20)
    assert (len(options.kb_slots), options.betform, len(options.profil)) == (10, "PG", 20)


# --- what the database pre-check is told (exports/prefilter.py) --------------------------------


def test_limits_are_the_layouts_widths() -> None:
    assert visma_file.limits(EXTENDED) == visma_file.Limits(
        name=40, address=40, case_no=16, extended=True, kb_keys=("ansvar", "tjeneste", "prosjekt")
    )
    assert visma_file.limits(BASIC) == visma_file.Limits(
        name=30, address=30, case_no=16, extended=False, kb_keys=()
    )


@pytest.mark.parametrize(
    ("line", "extended", "basic"),
    [
        (_line(), False, False),
        (_line(visma_vare=""), True, True),
        (_line(visma_oppdragsgiver="13"), True, True),
        (_line(vat_code="25%"), False, False),
        (_line(vat_code="1234"), True, False),  # basic has no MVAKODE
        (_line(dimensions={"ansvar": "1234567890123"}), True, False),  # nor kontering
    ],
)
def test_service_problems(line: Line, extended: bool, basic: bool) -> None:
    assert visma_file.service_problems(line, EXTENDED) is extended
    assert visma_file.service_problems(line, BASIC) is basic


# --- write ---------------------------------------------------------------------------------------


def test_write_reports_what_it_wrote() -> None:
    out = io.BytesIO()
    summary = visma_file.write(samples.BASES, EXTENDED, out)
    warnings = [f for f in visma_file.validate(samples.BASES, EXTENDED) if f.severity == W]
    assert summary.bytes == len(out.getvalue())
    assert summary.warnings == warnings and warnings
    assert summary.count == len(samples.BASES)


def test_a_left_out_basis_does_not_end_the_file() -> None:
    zero = samples.basis(9, samples.KARI, (_line(quantity=Decimal("0.00"), amount_ore=0),))
    options = dataclasses.replace(EXTENDED, include_zero_amount=False)
    out = io.BytesIO()
    summary = visma_file.write([zero, *samples.BASES], options, out)
    assert summary.skipped_pks == [9]
    assert summary.count == len(samples.BASES)
    out.seek(0)
    parsed = readers.read_visma(out, options)
    assert parsed.total_ore == sum(b.total_ore for b in samples.BASES)


def test_a_zero_quantity_keeps_its_price_positive() -> None:
    """Only a negative quantity moves its minus to PRIS (GRUNNLAG has no sign). Read from the
    bytes: the reader gives the sign back to the quantity, which hides it for a zero."""
    out = io.BytesIO()
    visma_file.write([_basis(_line(quantity=Decimal("0.00"), amount_ore=0))], EXTENDED, out)
    fl = out.getvalue().split(b"\r\n")[1]
    pris = visma_file.record_layout("FL_extended").field("PRIS")
    assert fl[pris.offset : pris.end] == b"00021500 "


def test_a_kontering_key_the_line_lacks_leaves_its_slot_blank() -> None:
    out = io.BytesIO()
    visma_file.write([_basis(_line(dimensions={"ansvar": "3100"}))], EXTENDED, out)
    out.seek(0)
    (line,) = readers.read_visma(out, EXTENDED).lines
    assert line.kb == ("3100", "", "", "", "", "", "", "", "", "")


def test_a_value_no_check_stopped_is_refused_by_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's last line of defence: were a check to let through a quantity GRUNNLAG cannot
    hold, the file is refused with the basis named, never written with a wrong number."""
    monkeypatch.setattr(visma_file, "QUANTITY_LIMIT", 10**12)
    basis = _basis(_line(quantity=Decimal("10000000.00"), unit_price_ore=0, amount_ore=0))
    with pytest.raises(FormatError) as exc:
        visma_file.write([basis], EXTENDED, io.BytesIO())
    (finding,) = exc.value.findings
    assert (finding.code, finding.basis_pk, finding.reference, finding.field) == (
        "field_overflow",
        10,
        "9999-000000010",
        "GRUNNLAG",
    )
    assert finding.message.startswith("Verdi får ikke plass i filen: ")


def test_lines_alike_but_for_their_service_are_checked_each() -> None:
    """The checks are cached per service and amounts; a second service with the same amounts
    gets its own finding, naming it."""
    basis = _basis(_line(visma_vare=""), samples.line(2, service_code="HJ", visma_vare=""))
    assert [f.message for f in visma_file.validate([basis], EXTENDED)] == [
        "Tjenesten PB mangler varenummer i Visma",
        "Tjenesten HJ mangler varenummer i Visma",
    ]
