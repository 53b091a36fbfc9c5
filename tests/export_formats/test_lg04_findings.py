"""Every finding of the LG04 file as billing staff read it (code, Bokmål message, severity and
field), the limits at each check's edge in both layouts, the settings' messages, what the database
pre-check is told, and what `write()` reports."""

from __future__ import annotations

import dataclasses
import io
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from exports.formats import agresso_lg04
from exports.formats.types import Basis, FormatError, Line
from tests.export_formats import readers, samples

CLASSIC = samples.LG04_CLASSIC  # apar_id, widths of 1905 bytes
WIDE = samples.LG04_WIDE  # id_in_text, widths of 4324 bytes
BIG = 10**16  # classic amount and value_1: 17 positions, one kept for the minus
TRANSLITERATED = "Tegn som iso-8859-1 ikke har, er byttet ut i filen (for eksempel č → c, ŋ → n)"


def _basis(*lines: Line, payer: Any = samples.KARI, **kw: Any) -> Basis:
    return samples.basis(20, payer, lines, **kw)


def _line(**kw: Any) -> Line:
    return samples.line(1, **kw)


def _payer(**kw: Any) -> Any:
    return dataclasses.replace(samples.KARI, **kw)


def _findings(basis: Basis, options: agresso_lg04.AgressoOptions) -> list[tuple[str, ...]]:
    return [
        (f.severity, f.code, f.message, f.field) for f in agresso_lg04.validate([basis], options)
    ]


E, W = "error", "warning"

CASES: list[tuple[str, Basis, agresso_lg04.AgressoOptions, Sequence[tuple[str, ...]]]] = [
    ("clean", _basis(_line()), CLASSIC, []),
    (
        "no article",
        _basis(_line(agresso_article="")),
        CLASSIC,
        [
            (
                E,
                "unknown_article",
                "Tjenesten PB mangler artikkel i Agresso",
                "lines[0].agresso_article",
            )
        ],
    ),
    ("article of 15", _basis(_line(agresso_article="A" * 15)), CLASSIC, []),
    (
        "article of 16",
        _basis(_line(agresso_article="A" * 16)),
        CLASSIC,
        [
            (
                E,
                "article_too_wide",
                "Artikkelen for PB er lengre enn 15 tegn",
                "lines[0].agresso_article",
            )
        ],
    ),
    (
        "three decimals",
        _basis(_line(quantity=Decimal("1.005"), unit_price_ore=100, amount_ore=101)),
        CLASSIC,
        [(E, "quantity_precision", "Antall kan ha høyst to desimaler", "lines[0].quantity")],
    ),
    (
        "amount is not quantity x price",
        _basis(_line(amount_ore=86001)),
        CLASSIC,
        [(E, "amount_mismatch", "Beløpet er ikke antall × enhetspris", "lines[0].amount_ore")],
    ),
    (
        "largest value_1",
        _basis(_line(quantity=Decimal(BIG - 1).scaleb(-2), unit_price_ore=0, amount_ore=0)),
        CLASSIC,
        [],
    ),
    (
        "most negative value_1",
        _basis(_line(quantity=Decimal(1 - BIG).scaleb(-2), unit_price_ore=0, amount_ore=0)),
        CLASSIC,
        [],
    ),
    *[
        (
            f"value_1 of {sign}10^16",
            _basis(_line(quantity=Decimal(sign * BIG).scaleb(-2), unit_price_ore=0, amount_ore=0)),
            CLASSIC,
            [(E, "quantity_too_wide", "Antallet er for stort", "lines[0].quantity")],
        )
        for sign in (1, -1)
    ],
    *[
        (
            f"amount of {sign}(10^16 - 1)",
            _basis(
                _line(quantity=Decimal(sign), unit_price_ore=BIG - 1, amount_ore=sign * (BIG - 1))
            ),
            CLASSIC,
            [],
        )
        for sign in (1, -1)
    ],
    *[
        (
            f"amount of {sign}10^16",
            _basis(_line(quantity=Decimal(sign), unit_price_ore=BIG, amount_ore=sign * BIG)),
            CLASSIC,
            [
                (
                    E,
                    "amount_too_wide",
                    "Beløpet får ikke plass i amount (17 tegn)",
                    "lines[0].amount_ore",
                )
            ],
        )
        for sign in (1, -1)
    ],
    (
        "amount of 10^16 in the wide layout",
        _basis(_line(quantity=Decimal(1), unit_price_ore=BIG, amount_ore=BIG)),
        WIDE,
        [],
    ),
    ("tax code of two", _basis(_line(vat_code="25")), CLASSIC, []),
    (
        "tax code of three",
        _basis(_line(vat_code="25%")),
        CLASSIC,
        [(E, "vat_code_too_wide", "MVA-koden er lengre enn 2 tegn", "lines[0].vat_code")],
    ),
    (
        "required dimension empty",
        _basis(_line(dimensions={"ansvar": "3100", "tjeneste": "25400"})),
        CLASSIC,
        [
            (
                E,
                "required_dimension_missing",
                "dim_5 (prosjekt) må ha en verdi",
                "lines[0].dimensions.prosjekt",
            )
        ],
    ),
    (
        "dimension of 8",
        _basis(_line(dimensions={**samples.DIMS, "ansvar": "12345678"})),
        CLASSIC,
        [],
    ),
    (
        "dimension of 9",
        _basis(_line(dimensions={**samples.DIMS, "ansvar": "123456789"})),
        CLASSIC,
        [
            (
                E,
                "dimension_too_wide",
                "Verdien '123456789' for ansvar er lengre enn 8 tegn (dim_1)",
                "lines[0].dimensions.ansvar",
            )
        ],
    ),
    (
        "no customer number",
        _basis(_line(), payer=_payer(customer_number="")),
        CLASSIC,
        [
            (
                E,
                "missing_customer_number",
                "Betaler 148190***** har ikke kundenummer i Agresso",
                "payer.customer_number",
            )
        ],
    ),
    (
        "customer number of 8",
        _basis(_line(), payer=_payer(customer_number="12345678")),
        CLASSIC,
        [],
    ),
    (
        "customer number of 9",
        _basis(_line(), payer=_payer(customer_number="123456789")),
        CLASSIC,
        [
            (
                E,
                "customer_number_too_wide",
                "Kundenummeret er lengre enn 8 tegn",
                "payer.customer_number",
            )
        ],
    ),
    (
        "id in text: wrong check digit",
        _basis(_line(), payer=_payer(identifier="14819010171")),
        WIDE,
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
        "bad period",
        _basis(_line(), period="2026-13"),
        CLASSIC,
        [(E, "invalid_period", "Ugyldig periode", "period")],
    ),
    ("reference of 15", _basis(_line(), reference="9999-0000000020"), CLASSIC, []),
    (
        "reference of 16",
        _basis(_line(), reference="9999-00000000020"),
        CLASSIC,
        [
            (
                E,
                "reference_too_wide",
                "Referansen er lengre enn 15 tegn (ext_ord_ref)",
                "reference",
            )
        ],
    ),
    (
        "no lines",
        _basis(),
        CLASSIC,
        [(E, "no_lines", "Fakturagrunnlaget har ingen linjer", "lines")],
    ),
    ("description of 35", _basis(_line(description="D" * 35)), CLASSIC, []),
    (
        "description of 36",
        _basis(_line(description="D" * 36)),
        CLASSIC,
        [(W, "description_cut", "Linjeteksten er kuttet til 35 tegn", "lines[0].description")],
    ),
    (
        "header text of 121",
        _basis(_line(), unit_name="U" * 108),  # + " oktober 2026" = 121
        CLASSIC,
        [(W, "header_text_cut", "Toppteksten er kuttet til 120 tegn", "header_text")],
    ),
    ("header text of 120", _basis(_line(), unit_name="U" * 107), CLASSIC, []),
    *[
        (
            f"a letter iso-8859-1 lacks in the {where}",
            basis,
            CLASSIC,
            [
                (
                    W,
                    "transliterated",
                    TRANSLITERATED,
                    "",
                )
            ],
        )
        for where, basis in (
            ("unit name", _basis(_line(), unit_name="Čoalmmát")),
            ("payer's name", _basis(_line(), payer=_payer(name="Čoalmmát"))),
            ("description", _basis(_line(description="Čoalmmát"))),
            ("texts", _basis(_line(texts=("Čoalmmát",)))),
            ("recipient's name", _basis(_line(), recipient=samples.AILE)),
        )
    ],
]


@pytest.mark.parametrize(
    ("basis", "options", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_finding(
    basis: Basis, options: agresso_lg04.AgressoOptions, expected: Sequence[tuple[str, ...]]
) -> None:
    assert _findings(basis, options) == list(expected)


def test_missing_settings_are_named_before_the_bases() -> None:
    options = dataclasses.replace(CLASSIC, client="", batch_id="")
    findings = agresso_lg04.validate([_basis(_line(agresso_article=""))], options)
    assert [(f.code, f.message, f.field, f.basis_pk) for f in findings] == [
        (
            "missing_setting",
            "Innstillingen client mangler for Agresso-eksport",
            "options.client",
            None,
        ),
        (
            "missing_setting",
            "Innstillingen batch_id mangler for Agresso-eksport",
            "options.batch_id",
            None,
        ),
        (
            "unknown_article",
            "Tjenesten PB mangler artikkel i Agresso",
            "lines[0].agresso_article",
            20,
        ),
    ]
    with pytest.raises(FormatError) as exc:
        agresso_lg04.write([_basis(_line())], options, io.BytesIO(), itertools.count(1))
    assert [f.field for f in exc.value.findings] == ["options.client", "options.batch_id"]


# --- settings ----------------------------------------------------------------------------------

PREFIX = "Ugyldige innstillinger for LG04-fil: "
TEMPLATE_KEYS = "{unit_name}, {unit_code}, {period}, {period_name}, {reference}"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"layout": "narrow"}, "layout må være classic eller wide"),
        ({"encoding": "utf-8"}, "tegnsett må være iso-8859-1 eller cp1252"),
        ({"line_ending": "\r"}, "linjeskift må være CRLF eller LF"),
        ({"customer_mode": "name"}, "kundereferanse må være apar_id eller id_in_text"),
        ({"client": "ABC"}, "client kan være høyst 2 tegn i classic-formatet"),
        ({"dim_slots": ("a",) * 8}, "høyst sju dimensjoner (dim_1–dim_7)"),
        ({"required_slots": frozenset({0})}, "påkrevd dimensjon 0 finnes ikke (1–7)"),
        ({"required_slots": frozenset({8})}, "påkrevd dimensjon 8 finnes ikke (1–7)"),
        (
            {"dim_slots": ("a",), "required_slots": frozenset({2})},
            "dim_2 er påkrevd, men ingen dimensjon er koblet til den",
        ),
        (
            {"dim_slots": ("a", ""), "required_slots": frozenset({2})},
            "dim_2 er påkrevd, men ingen dimensjon er koblet til den",
        ),
        ({"header_text_template": "{unit_name"}, "malen for topptekst er ugyldig"),
        (
            {"header_text_template": "{kunde}"},
            f"malen for topptekst kan bare bruke {TEMPLATE_KEYS}",
        ),
        (
            {"header_text_template": "{} {period}"},
            f"malen for topptekst kan bare bruke {TEMPLATE_KEYS}",
        ),
    ],
)
def test_each_bad_setting_is_named(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError) as exc:
        agresso_lg04.AgressoOptions(**settings)
    assert str(exc.value) == PREFIX + problem


def test_bad_settings_are_named_together() -> None:
    with pytest.raises(ValueError) as exc:
        agresso_lg04.AgressoOptions(client="ABC", dim_slots=("a",) * 8)
    assert str(exc.value) == (
        PREFIX + "client kan være høyst 2 tegn i classic-formatet; høyst sju dimensjoner "
        "(dim_1–dim_7)"
    )


def test_settings_at_their_limits_are_accepted() -> None:
    seven = ("a", "b", "c", "d", "e", "f", "g")
    options = agresso_lg04.AgressoOptions(
        client="AB", dim_slots=seven, required_slots=frozenset({1, 7})
    )
    assert (options.client, options.slots, options.required_slots) == ("AB", seven, {1, 7})


# --- what the database pre-check is told (exports/prefilter.py) --------------------------------


def test_limits_are_the_layouts_widths() -> None:
    classic, wide = agresso_lg04.limits(CLASSIC), agresso_lg04.limits(WIDE)
    assert (classic.amount, classic.quantity) == (10**16, 10**16)
    assert (wide.amount, wide.quantity) == (10**19, 10**19)
    assert classic.dims == (
        (1, "ansvar", 8, False),
        (2, "tjeneste", 8, False),
        (5, "prosjekt", 12, True),
    )
    assert wide.dims == (
        (1, "ansvar", 25, False),
        (2, "tjeneste", 25, False),
        (5, "prosjekt", 25, True),
    )
    layout = agresso_lg04.record_layout("classic")
    assert dict(classic.widths) == {f.name: f.length for f in layout.fields}
    assert (classic.widths["article"], classic.widths["tax_code"]) == (15, 2)


@pytest.mark.parametrize(
    ("line", "classic", "wide"),
    [
        (_line(), False, False),
        (_line(agresso_article=""), True, True),
        (_line(agresso_article="A" * 16), True, False),
        (_line(vat_code="25"), False, False),
        (_line(vat_code="25%"), True, False),
        (_line(dimensions={**samples.DIMS, "ansvar": "123456789"}), True, False),
        (_line(dimensions={"ansvar": "3100"}), True, True),  # the required dim_5 is empty
    ],
)
def test_service_problems(line: Line, classic: bool, wide: bool) -> None:
    assert agresso_lg04.service_problems(line, CLASSIC) is classic
    assert agresso_lg04.service_problems(line, WIDE) is wide


# --- write ---------------------------------------------------------------------------------------


def test_write_reports_what_it_wrote() -> None:
    out = io.BytesIO()
    summary = agresso_lg04.write(samples.BASES, CLASSIC, out, itertools.count(100))
    warnings = [f for f in agresso_lg04.validate(samples.BASES, CLASSIC) if f.severity == W]
    assert summary.bytes == len(out.getvalue())
    assert summary.warnings == warnings and warnings
    assert summary.order_ids == {1: 100, 2: 101, 3: 102, 4: 103}


def test_a_left_out_basis_does_not_end_the_file() -> None:
    zero = samples.basis(9, samples.KARI, (_line(quantity=Decimal("0.00"), amount_ore=0),))
    options = dataclasses.replace(CLASSIC, include_zero_amount=False)
    out = io.BytesIO()
    summary = agresso_lg04.write([zero, *samples.BASES], options, out, itertools.count(1))
    assert (summary.skipped_pks, summary.count) == ([9], len(samples.BASES))
    out.seek(0)
    assert [o.order_id for o in readers.read_agresso(out, options)] == [1, 2, 3, 4]


def test_order_ids_running_out_is_refused() -> None:
    with pytest.raises(ValueError) as exc:
        agresso_lg04.write(samples.BASES, CLASSIC, io.BytesIO(), iter([1, 2]))
    assert str(exc.value) == (
        "Nummerserien for ordrenummer er brukt opp; reserver flere før eksporten"
    )


def test_a_value_no_check_stopped_is_refused_by_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's last line of defence: were a check to let through an amount the field cannot
    hold, the file is refused with the basis named, never written with a wrong number."""
    made = agresso_lg04._Planner.__init__

    def lenient(self: Any, options: agresso_lg04.AgressoOptions) -> None:
        made(self, options)
        self.amount_limit = 10**30

    monkeypatch.setattr(agresso_lg04._Planner, "__init__", lenient)
    # −10^16 needs 18 positions with its minus; amount has 17.
    basis = _basis(_line(quantity=Decimal(-1), unit_price_ore=BIG, amount_ore=-BIG))
    with pytest.raises(FormatError) as exc:
        agresso_lg04.write([basis], CLASSIC, io.BytesIO(), itertools.count(1))
    (finding,) = exc.value.findings
    assert (finding.code, finding.basis_pk, finding.reference, finding.field) == (
        "field_overflow",
        20,
        "9999-000000020",
        "amount",
    )
    assert finding.message.startswith("Verdi får ikke plass i filen: ")


def test_lines_alike_but_for_their_service_are_checked_each() -> None:
    """The checks are cached per service and amounts; a second service with the same amounts
    gets its own finding, naming it."""
    basis = _basis(
        _line(agresso_article=""), samples.line(2, service_code="HJ", agresso_article="")
    )
    assert [f.message for f in agresso_lg04.validate([basis], CLASSIC)] == [
        "Tjenesten PB mangler artikkel i Agresso",
        "Tjenesten HJ mangler artikkel i Agresso",
    ]


def test_the_header_text_template_may_use_every_key() -> None:
    options = dataclasses.replace(
        CLASSIC, header_text_template="{unit_code} {period} {period_name} {reference} {unit_name}"
    )
    expected = "HJT-NORD 2026-10 oktober 2026 9999-000000020 Hjemmetjenesten sone nord"
    assert (
        agresso_lg04.header_text(
            options,
            unit_name="Hjemmetjenesten sone nord",
            unit_code="HJT-NORD",
            period="2026-10",
            reference="9999-000000020",
        )
        == expected
    )
    out = io.BytesIO()
    agresso_lg04.write([_basis(_line())], options, out, itertools.count(1))
    out.seek(0)
    (order,) = readers.read_agresso(out, options)
    assert order.header_text == expected
