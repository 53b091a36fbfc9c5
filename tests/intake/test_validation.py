"""The validator's rules, one by one (spec/intake.md "Precise rules", spec/identifiers.md)."""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from invoices.amounts import amount_for, amount_for_quantity
from invoices.models import BasisStatus, Municipality
from invoices.validation import (
    Catalogue,
    Issue,
    ServiceInfo,
    content_hash,
    load_stored_originals,
    period_bounds,
    validate_bases,
)
from invoices.validation.checker import Checker, Memo
from invoices.validation.lines import fast_line, validate_line
from tests import factories
from tests.intake import helpers

pytestmark = pytest.mark.usefixtures("services_a")


def check(m: Municipality, bases: list[Any]) -> list[Issue]:
    refs = {b.get("credits") for b in bases if isinstance(b, dict) and b.get("credits")}
    stored = load_stored_originals(m, {r for r in refs if isinstance(r, str)})
    return validate_bases(bases, Catalogue.load(m), stored_originals=stored)[1]


def codes(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.field, i.code) for i in issues]


def test_valid_basis_has_no_issues(kommune_a: Municipality) -> None:
    valid, issues = validate_bases([helpers.basis()], Catalogue.load(kommune_a))
    assert issues == []
    assert len(valid) == 1
    assert valid[0].lines[0].quantity == Decimal("4.00")
    assert valid[0].total_ore == 86000


# --- amounts ---------------------------------------------------------------------------------

ROUNDING = [
    # quantity, unit price (øre), amount (øre): ties go away from zero
    ("4.00", 21500, 86000),
    ("0.5", 1, 1),  # 0,5 øre → 1
    ("1.5", 3, 5),  # 4,5 → 5
    ("-0.5", 10051, -5026),  # −50,255 kr → −50,26 kr
    ("-1.5", 3, -5),  # −4,5 → −5
    ("0.33", 100, 33),
    ("2.25", 333, 749),  # 749,25 → 749
    ("2.26", 333, 753),  # 752,58 → 753
    ("0.01", 50, 1),  # 0,5 → 1
    ("-0.01", 50, -1),
    ("-0.01", 49, 0),  # −0,49 → 0
    ("-0.03", 50, -2),  # −1,5 → −2 (half to even would give −2 too; −0,5 and −2,5 tell them apart)
    ("-0.05", 50, -3),  # −2,5 → −3, not −2
    ("9999999.99", 99999999, 999_999_989_000_000),  # the largest product the fields allow
]

# Lines no amount can be right for: quantity, unit price, the refused field and its code.
REFUSED = [
    ("0.335", 100, "quantity", "invalid_format"),  # three decimals are not allowed at all
    ("9999999.99", 99999999, "amount_ore", "out_of_range"),  # beyond the amount range
]


@pytest.mark.parametrize(("quantity", "price", "expected"), ROUNDING)
def test_amount_rounding_table(quantity: str, price: int, expected: int) -> None:
    hundredths = int(Decimal(quantity).scaleb(2))
    exact = (Decimal(quantity) * price).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    assert amount_for(hundredths, price) == expected == int(exact)
    assert amount_for_quantity(Decimal(quantity), price) == expected


@pytest.mark.parametrize(("quantity", "price", "field", "code"), REFUSED)
def test_lines_no_amount_fits_are_refused(
    kommune_a: Municipality, quantity: str, price: int, field: str, code: str
) -> None:
    line = helpers.line(quantity=quantity, unit_price_ore=price, amount_ore=1)
    if code != "invalid_format":
        line["amount_ore"] = amount_for_quantity(Decimal(quantity), price)
    issues = check(kommune_a, [helpers.basis(lines=[line])])
    assert (f"lines[0].{field}", code) in codes(issues), issues


@given(
    st.integers(min_value=-999_999_999, max_value=999_999_999),
    st.integers(min_value=0, max_value=10**8 - 1),
)
def test_amount_matches_decimal_round_half_up(hundredths: int, price: int) -> None:
    exact = (Decimal(hundredths) / 100 * price).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
    assert amount_for(hundredths, price) == int(exact)


@st.composite
def half_ore_ties(draw: st.DrawFn) -> tuple[int, int]:
    """A quantity (in hundredths) and a unit price (øre) whose product is exactly k + ½ øre: split
    50 = a·b, then quantity = a·u and price = b·v with u, v odd, so the product in 1/100 øre is
    50·(odd), which ends in 50. Both signs of the quantity (credits are negative)."""
    a = draw(st.sampled_from([1, 2, 5, 10, 25, 50]))
    u = 2 * draw(st.integers(min_value=0, max_value=(999_999_999 // a - 1) // 2)) + 1
    v = 2 * draw(st.integers(min_value=0, max_value=((10**8 - 1) // (50 // a) - 1) // 2)) + 1
    sign = draw(st.sampled_from([1, -1]))
    return sign * a * u, (50 // a) * v


@hypothesis_settings(max_examples=300)
@given(half_ore_ties())
def test_half_ore_ties_round_away_from_zero(tie: tuple[int, int]) -> None:
    hundredths, price = tie
    product = hundredths * price  # in 1/100 øre
    assert abs(product) % 100 == 50, "not a tie: the strategy is wrong"
    # Away from zero: the whole øre below the magnitude, plus one, with the sign of the product.
    expected = (abs(product) // 100 + 1) * (1 if product > 0 else -1)
    assert amount_for(hundredths, price) == expected
    assert amount_for_quantity(Decimal(hundredths).scaleb(-2), price) == expected
    assert factories.amount_for(Decimal(hundredths).scaleb(-2), price) == expected


@hypothesis_settings(max_examples=100, deadline=None)
@given(half_ore_ties())
def test_intake_accepts_only_the_tie_rounded_away_from_zero(tie: tuple[int, int]) -> None:
    """Through the validator: the amount away from zero passes, the one toward zero is refused."""
    hundredths, price = tie
    product = hundredths * price
    away = (abs(product) // 100 + 1) * (1 if product > 0 else -1)
    toward = away - (1 if product > 0 else -1)
    quantity = str(Decimal(hundredths).scaleb(-2))
    kind = "invoice" if hundredths > 0 else "credit"
    for amount, ok in ((away, True), (toward, False)):
        line = helpers.line(quantity=quantity, unit_price_ore=price, amount_ore=amount)
        if kind == "invoice":
            bases = [helpers.basis("HT-1", lines=[line])]
        else:
            bases = [helpers.basis("HT-1"), helpers.credit("K-1", "HT-1", lines=[line])]
        issues = validate_bases(bases, _CATALOGUE)[1]
        if abs(away) >= 10**10:
            assert ("lines[0].amount_ore", "out_of_range") in codes(issues)
        elif ok:
            assert issues == [], (quantity, price, amount)
        else:
            assert codes(issues) == [("lines[0].amount_ore", "amount_mismatch")], (quantity, price)


def test_amount_for_refuses_a_third_decimal() -> None:
    # The message names the quantity, so whoever meets the error knows which value was wrong.
    with pytest.raises(ValueError, match=r"^quantity 1\.005 has more than two decimals$"):
        amount_for_quantity(Decimal("1.005"), 100)


def test_negative_half_ore_example_from_the_spec(kommune_a: Municipality) -> None:
    good = helpers.credit(
        "K-1", "HT-1", lines=[helpers.line(quantity="-0.5", unit_price_ore=10051, amount_ore=-5026)]
    )
    bad = helpers.credit(
        "K-2", "HT-1", lines=[helpers.line(quantity="-0.5", unit_price_ore=10051, amount_ore=-5025)]
    )
    issues = check(kommune_a, [helpers.basis("HT-1"), good, bad])
    assert codes(issues) == [("lines[0].amount_ore", "amount_mismatch")]
    assert issues[0].index == 2 and issues[0].source_reference == "K-2"
    assert "-5026" in issues[0].message


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("quantity", 4, "invalid_type"),
        ("quantity", "4,00", "invalid_format"),
        ("quantity", "4.001", "invalid_format"),
        ("quantity", "12345678", "invalid_format"),
        ("quantity", " 4", "invalid_format"),
        ("quantity", "+4", "invalid_format"),
        ("quantity", "٤", "invalid_format"),  # Arabic-Indic four: a digit, but not [0-9]
        ("unit_price_ore", 215.0, "invalid_type"),
        ("unit_price_ore", "21500", "invalid_type"),
        ("unit_price_ore", True, "invalid_type"),
        ("unit_price_ore", 10**8, "out_of_range"),
        ("amount_ore", 86000.0, "invalid_type"),
        ("amount_ore", 10**10, "out_of_range"),
        ("amount_ore", None, "required"),
        ("service_from", "2026-02-30", "invalid_date"),
        ("service_from", "20261001", "invalid_format"),
        ("description", "x" * 201, "too_long"),
        ("description", "to\nlinjer", "control_character"),
        ("description", "snudd\u202etekst", "control_character"),
        ("service_code", "NEI", "unknown_service"),
        ("service_code", "GML", "service_not_billable"),
        ("service_code", "UTG", "service_not_valid"),
        ("texts", ["x" * 51], "text_too_long"),
        ("texts", ["ok"] * 100, "too_many_texts"),
        ("texts", "én tekst", "invalid_type"),
        ("texts", [1], "invalid_type"),
        ("dimensions", {"art": "1234"}, "unknown_dimension"),
        ("dimensions", {"ansvar": 3100}, "invalid_type"),
        ("dimensions", {"ansvar": "x" * 26}, "invalid_value"),
        ("dimensions", ["ansvar"], "invalid_type"),
        ("kontering", {}, "unknown_field"),
    ],
)
def test_line_rules(kommune_a: Municipality, field: str, value: Any, code: str) -> None:
    line = helpers.line()
    line[field] = value
    issues = check(kommune_a, [helpers.basis(lines=[line])])
    assert code in [i.code for i in issues], issues
    assert all(i.field.startswith("lines[0].") for i in issues)
    assert all(i.index == 0 and i.source_reference == "HT-2026-10-000001" for i in issues)


def test_texts_are_never_cut_and_fifty_characters_pass(kommune_a: Municipality) -> None:
    exact = helpers.line(texts=["x" * 50] * 99)
    valid, issues = validate_bases([helpers.basis(lines=[exact])], Catalogue.load(kommune_a))
    assert issues == []
    assert valid[0].lines[0].texts == ["x" * 50] * 99
    too_long = helpers.line(texts=["ok", "y" * 51])
    issues = check(kommune_a, [helpers.basis(lines=[too_long])])
    assert codes(issues) == [("lines[0].texts[1]", "text_too_long")]


def test_service_from_after_service_to(kommune_a: Municipality) -> None:
    line = helpers.line(service_from="2026-10-31", service_to="2026-10-01")
    assert codes(check(kommune_a, [helpers.basis(lines=[line])])) == [
        ("lines[0].service_to", "invalid_date_range")
    ]


def test_line_count_limits(kommune_a: Municipality) -> None:
    assert codes(check(kommune_a, [helpers.basis(lines=[])])) == [("lines", "no_lines")]
    ninety_nine = [helpers.line() for _ in range(99)]
    assert check(kommune_a, [helpers.basis(lines=ninety_nine)]) == []
    assert codes(check(kommune_a, [helpers.basis(lines=[*ninety_nine, helpers.line()])])) == [
        ("lines", "too_many_lines")
    ]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("source_reference", "", "required"),
        ("source_reference", "x" * 65, "too_long"),
        ("source_reference", 123, "invalid_type"),
        ("period", "2026-13", "invalid_format"),
        ("period", "2026-1", "invalid_format"),
        ("period", None, "required"),
        ("kind", "faktura", "invalid_value"),
        ("kind", None, "required"),
        ("unit", None, "required"),
        ("unit", "HJT", "invalid_type"),
        ("unit", {"name": "uten kode"}, "required"),
        ("payer", None, "required"),
        ("lines", {"0": {}}, "invalid_type"),
        ("credits", "HT-9", "credits_not_allowed"),
        ("ekstra", 1, "unknown_field"),
    ],
)
def test_basis_rules(kommune_a: Municipality, field: str, value: Any, code: str) -> None:
    doc = helpers.basis()
    doc[field] = value
    issues = check(kommune_a, [doc])
    assert code in [i.code for i in issues], issues
    assert all(i.index == 0 for i in issues)


def test_sixty_four_character_reference_is_fine(kommune_a: Municipality) -> None:
    assert check(kommune_a, [helpers.basis("R" * 64)]) == []


def test_basis_that_is_not_an_object(kommune_a: Municipality) -> None:
    issues = check(kommune_a, [helpers.basis(), "tekst", None])
    assert [(i.index, i.code) for i in issues] == [(1, "invalid_type"), (2, "invalid_type")]


# --- parties and identifiers -----------------------------------------------------------------

IDS = [
    (factories.FNR_CLASSIC, None),
    ("15899010067", None),  # 2032 rule, K1 remainder 1
    ("15899010075", None),  # remainder 2
    ("15899010083", None),  # remainder 3
    (factories.DNR, None),
    (factories.FNR_OTHER, None),
    ("15499010076", None),  # H-nummer (month + 40)
    ("15499010181", None),  # H-nummer, 2032 rule
    ("15499010077", "invalid_checksum"),  # H-nummer, K2 wrong
    ("31429010031", "invalid_date"),  # H-nummer for 31 February
    ("15899010050", "invalid_checksum"),  # K2 wrong
    ("15899010058", "invalid_checksum"),
    ("1589901005", "invalid_format"),
    ("1589901005X", "invalid_format"),
    ("32899010014", "invalid_checksum"),
]


@pytest.mark.parametrize(("national_id", "code"), IDS)
def test_national_ids(kommune_a: Municipality, national_id: str, code: str | None) -> None:
    issues = check(kommune_a, [helpers.basis(payer_obj=helpers.payer(national_id))])
    assert codes(issues) == ([] if code is None else [("payer.national_id", code)])


def test_synthetic_ids_only_when_allowed(kommune_a: Municipality, settings: Any) -> None:
    settings.ALLOW_SYNTHETIC_IDS = False
    issues = check(kommune_a, [helpers.basis(payer_obj=helpers.payer("15899010067"))])
    assert codes(issues) == [("payer.national_id", "synthetic_id")]


def test_org_number_payer(kommune_a: Municipality) -> None:
    org = {"org_number": factories.ORGNR, "name": "Omsorg AS"}
    assert check(kommune_a, [helpers.basis(payer_obj=org)]) == []
    bad = {"org_number": "988077918", "name": "Omsorg AS"}
    assert codes(check(kommune_a, [helpers.basis(payer_obj=bad)])) == [
        ("payer.org_number", "invalid_checksum")
    ]


@pytest.mark.parametrize(
    ("payer", "expected"),
    [
        ({"name": "Uten id"}, ("payer.national_id", "required")),
        (
            {"national_id": factories.FNR_CLASSIC, "org_number": factories.ORGNR, "name": "Begge"},
            ("payer.national_id", "ambiguous_identifier"),
        ),
        ({"national_id": factories.FNR_CLASSIC}, ("payer.name", "required")),
        ({"national_id": factories.FNR_CLASSIC, "name": "x" * 101}, ("payer.name", "too_long")),
        ({"national_id": 15899010059, "name": "Tall"}, ("payer.national_id", "invalid_type")),
        (
            {"national_id": factories.FNR_CLASSIC, "name": "K", "postcode": "999"},
            ("payer.postcode", "invalid_format"),
        ),
        (
            {"national_id": factories.FNR_CLASSIC, "name": "K", "address1": "a" * 101},
            ("payer.address1", "too_long"),
        ),
        (
            {"national_id": factories.FNR_CLASSIC, "name": "K", "epost": "x"},
            ("payer.epost", "unknown_field"),
        ),
    ],
)
def test_payer_rules(
    kommune_a: Municipality, payer: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert codes(check(kommune_a, [helpers.basis(payer_obj=payer)])) == [expected]


def test_address_is_optional_at_intake(kommune_a: Municipality) -> None:
    bare = {"national_id": factories.FNR_CLASSIC, "name": "Kari Nordmann"}
    assert check(kommune_a, [helpers.basis(payer_obj=bare)]) == []


def test_recipient_is_checked_like_the_payer(kommune_a: Municipality) -> None:
    recipient = {"national_id": "15899010050", "name": "Ola"}
    assert codes(check(kommune_a, [helpers.basis(recipient=recipient)])) == [
        ("recipient.national_id", "invalid_checksum")
    ]


def test_names_with_sami_letters_and_control_characters(kommune_a: Municipality) -> None:
    sami = helpers.payer(name="Máret Áŋŋá Čoavdda-Šiellá Ŧ Žž")
    assert check(kommune_a, [helpers.basis(payer_obj=sami)]) == []
    for bad, code in (
        ("Kari\x00", "control_character"),
        ("Kari\u2028Nordmann", "control_character"),
        ("Kari\u202eNordmann", "control_character"),
        ("\u2066Kari\u2069", "control_character"),
        ("Kari\ud800", "invalid_characters"),
    ):
        issues = check(kommune_a, [helpers.basis(payer_obj=helpers.payer(name=bad))])
        assert codes(issues) == [("payer.name", code)]


# --- signs and credits -----------------------------------------------------------------------


def test_invoice_lines_cannot_be_negative(kommune_a: Municipality) -> None:
    negative = helpers.line(quantity="-1.00")
    assert codes(check(kommune_a, [helpers.basis(lines=[negative])])) == [
        ("lines[0].quantity", "invalid_sign")
    ]
    negative_price = helpers.line(unit_price_ore=-100)
    assert codes(check(kommune_a, [helpers.basis(lines=[negative_price])])) == [
        ("lines[0].unit_price_ore", "invalid_sign")
    ]


def test_credit_lines_are_negative_quantities_with_positive_prices(kommune_a: Municipality) -> None:
    first = helpers.basis("HT-1")
    positive = helpers.credit("K-1", "HT-1", lines=[helpers.line(quantity="4.00")])
    negative_price = helpers.credit(
        "K-2", "HT-1", lines=[helpers.line(quantity="4.00", unit_price_ore=-21500)]
    )
    issues = check(kommune_a, [first, positive, negative_price])
    assert [(i.index, i.field, i.code) for i in issues] == [
        (1, "lines[0].quantity", "invalid_sign"),
        (2, "lines[0].quantity", "invalid_sign"),
    ]
    zero = helpers.credit("K-3", "HT-1", lines=[helpers.line(quantity="0.00")])
    assert check(kommune_a, [first, zero]) == []


def test_credit_needs_an_earlier_invoice_of_the_same_payer(kommune_a: Municipality) -> None:
    invoice = helpers.basis("HT-1")
    assert check(kommune_a, [invoice, helpers.credit("K-1", "HT-1")]) == []
    # later in the request is not enough
    issues = check(kommune_a, [helpers.credit("K-1", "HT-1"), invoice])
    assert codes(issues) == [("credits", "unknown_credit_reference")]
    # unknown
    assert codes(check(kommune_a, [helpers.credit("K-1", "HT-404")])) == [
        ("credits", "unknown_credit_reference")
    ]
    # another payer
    other = helpers.credit("K-1", "HT-1", payer_obj=helpers.payer(factories.FNR_OTHER))
    assert codes(check(kommune_a, [invoice, other])) == [("credits", "credit_payer_mismatch")]
    # a credit of a credit
    issues = check(
        kommune_a, [invoice, helpers.credit("K-1", "HT-1"), helpers.credit("K-2", "K-1")]
    )
    assert codes(issues) == [("credits", "credit_target_not_invoice")]
    # missing credits
    missing = helpers.credit("K-1", "HT-1")
    missing["credits"] = None
    assert codes(check(kommune_a, [invoice, missing])) == [("credits", "required")]


def test_credit_of_a_stored_invoice(kommune_a: Municipality, kommune_b: Municipality) -> None:
    stored = factories.basis(kommune_a, source_reference="HT-1", status=BasisStatus.EXPORTED)
    assert stored.payer.national_id == factories.FNR_CLASSIC
    assert check(kommune_a, [helpers.credit("K-1", "HT-1")]) == []
    # the same reference in another municipality does not count
    helpers.catalogue(kommune_b)
    assert codes(check(kommune_b, [helpers.credit("K-1", "HT-1")])) == [
        ("credits", "unknown_credit_reference")
    ]


def test_duplicate_references_in_one_request(kommune_a: Municipality) -> None:
    issues = check(kommune_a, [helpers.basis("HT-1"), helpers.basis("HT-2"), helpers.basis("HT-1")])
    assert [(i.index, i.source_reference, i.field, i.code) for i in issues] == [
        (2, "HT-1", "source_reference", "duplicate_reference")
    ]


def test_every_error_of_a_basis_is_listed(kommune_a: Municipality) -> None:
    doc = helpers.basis(
        lines=[helpers.line(amount_ore=1), helpers.line(service="NEI", texts=["x" * 60])],
        payer_obj=helpers.payer("15899010050"),
    )
    assert sorted(codes(check(kommune_a, [doc]))) == [
        ("lines[0].amount_ore", "amount_mismatch"),
        ("lines[1].service_code", "unknown_service"),
        ("lines[1].texts[0]", "text_too_long"),
        ("payer.national_id", "invalid_checksum"),
    ]


# --- same content --------------------------------------------------------------------------------


def test_content_hash_normalizes(kommune_a: Municipality) -> None:
    cat = Catalogue.load(kommune_a)

    def digest(doc: dict[str, Any]) -> str:
        valid, issues = validate_bases([doc], cat)
        assert issues == []
        return content_hash(valid[0])

    base = helpers.basis(lines=[helpers.line(texts=[], dimensions={})])
    same = helpers.basis(lines=[helpers.line(quantity="4", texts=None, dimensions=None)])
    del same["credits"]
    same["lines"][0].pop("texts")
    assert digest(base) == digest(same)
    # recipient missing = the payer itself
    assert digest(base) == digest({**base, "recipient": helpers.payer()})
    # a new address is master data, not a new basis
    moved = {**base, "payer": helpers.payer(address1="Nyveien 2")}
    assert digest(base) == digest(moved)
    changed = helpers.basis(lines=[helpers.line(quantity="5.00", texts=[], dimensions={})])
    assert digest(base) != digest(changed)


# --- the fast path for valid lines ---------------------------------------------------------------

_CATALOGUE = Catalogue(
    services={
        "PB": ServiceInfo(1, True, None, None),
        "GML": ServiceInfo(2, False, None, None),
        "UTG": ServiceInfo(3, True, None, datetime.date(2025, 12, 31)),
    },
    dimension_keys=frozenset({"ansvar", "prosjekt"}),
    allow_synthetic=True,
)
_odd_strings = ["", "ok", "a\nb", "a\x00", "a\u2028b", "\ud800", "Čáđ"]
FIELD_VALUES: dict[str, Any] = {
    "service_code": st.sampled_from(["PB", "GML", "UTG", "NEI", "", 5, None, ["PB"]]),
    "quantity": st.sampled_from(
        [
            "4",
            "4.0",
            "4.00",
            "4.001",
            "-4",
            "-0",
            "0",
            "0.5",
            "-0.5",
            "1e3",
            " 4",
            "4,00",
            "٤",
            "12345678",
            "1234567.99",
            "-1234567.99",
            4,
            None,
        ]
    ),
    "unit_price_ore": st.one_of(
        st.sampled_from(
            [-(10**8), -1, 0, 1, 21500, 10**8 - 1, 10**8, True, 21500.0, "21500", None]
        ),
        st.integers(min_value=-1000, max_value=1000),
    ),
    "description": st.sampled_from([*_odd_strings, "x" * 200, "x" * 201, None, 5]),
    "service_from": st.sampled_from(
        ["2026-10-01", "2026-11-01", "2026-02-30", "2026-1-1", "", None, 1]
    ),
    "service_to": st.sampled_from(["2026-10-31", "2026-09-30", "20261031", "", None, []]),
    "texts": st.sampled_from(
        [
            [],
            [""],
            ["ok"],
            ["x" * 50],
            ["x" * 51],
            ["ok", "x" * 51],
            ["ok", 1],
            ["x"] * 99,
            ["x"] * 100,
            None,
            "tekst",
            {},
            *([s] for s in _odd_strings),
        ]
    ),
    "dimensions": st.sampled_from(
        [
            {},
            {"ansvar": "3100"},
            {"art": "1"},
            {"ansvar": ""},
            {"ansvar": "x" * 25},
            {"ansvar": "x" * 26},
            {"ansvar": 5},
            {"ansvar": None},
            None,
            [],
            "ansvar",
            *({"prosjekt": s} for s in _odd_strings),
        ]
    ),
    "extra": st.just(1),
}


@hypothesis_settings(max_examples=1000, deadline=None)
@given(
    kind=st.sampled_from(["invoice", "invoice", "credit", "credit", "x"]),
    fields=st.lists(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=2),
    amount_delta=st.sampled_from([0, 0, 0, 1, -1]),
    data=st.data(),
)
def test_fast_path_accepts_only_what_the_full_check_accepts(
    kind: str, fields: list[str], amount_delta: int, data: Any
) -> None:
    line = helpers.line(quantity="-4.00" if kind == "credit" else "4.00")
    for name in fields:
        line[name] = data.draw(FIELD_VALUES[name], label=name)
    try:  # keep the amount right (or one øre off) for whatever quantity and price came out
        hundredths = int(Decimal(line["quantity"]) * 100)
        line["amount_ore"] = amount_for(hundredths, line["unit_price_ore"]) + amount_delta
    except Exception:
        pass
    memo = Memo()
    issues: list[Issue] = []
    check = Checker(0, "R", issues, memo)
    period_range = period_bounds("2026-10")
    full = validate_line(check, line, 0, kind, _CATALOGUE, period_range)
    usable = memo.usable_services("2026-10", _CATALOGUE)
    fast = fast_line(line, 0, kind, usable, _CATALOGUE, memo)
    if fast is not None:
        assert issues == [] and full == fast, (line, issues)


def test_fast_path_takes_the_common_line() -> None:
    memo = Memo()
    line = helpers.line()
    checker = Checker(0, "R", [], memo)
    validate_line(checker, line, 0, "invoice", _CATALOGUE, period_bounds("2026-10"))
    usable = memo.usable_services("2026-10", _CATALOGUE)
    assert fast_line(line, 0, "invoice", usable, _CATALOGUE, memo) is not None
