"""The national-id validator against the spec's table, more rows of every kind, and a property test
that builds numbers of every kind from the rules in spec/identifiers.md with check digits computed
here, never by the product."""

import datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from invoices.identifiers import (
    IdKind,
    InvalidIdentifier,
    is_valid_kid,
    is_valid_national_id,
    kid_mod10_check_digit,
    kid_mod11_check_digit,
    mask_national_id,
    validate_national_id,
    validate_org_number,
)

FNR, DNR, HNR = IdKind.FODSELSNUMMER, IdKind.D_NUMMER, IdKind.H_NUMMER

# The table from spec/identifiers.md, then H-numbers (month + 40; Dolly's synthetic numbers share
# the offset, so these are not real people's) and D-numbers under the 2032 rule.
# number, valid?, kind, synthetic (Tenor, month + 80)
TABLE = [
    ("15899010059", True, FNR, True),
    ("15899010067", True, FNR, True),
    ("15899010075", True, FNR, True),
    ("15899010083", True, FNR, True),
    ("55899010042", True, DNR, True),
    ("15899010050", False, None, None),
    ("14819010170", True, FNR, True),
    ("15499010076", True, HNR, False),  # 15.09.90, H-nummer, classic rule
    ("15499010165", True, HNR, False),  # H-nummer, K1 remainder 1
    ("15499010173", True, HNR, False),  # remainder 2
    ("15499010181", True, HNR, False),  # remainder 3
    ("55899010050", True, DNR, True),  # D-nummer, K1 remainder 1
    ("55899010069", True, DNR, True),  # remainder 2
    ("55899010077", True, DNR, True),  # remainder 3
    ("15499010077", False, None, None),  # H-nummer, K2 wrong
    ("15499010009", False, None, None),  # H-nummer, K1 remainder 4 (K2 made to fit)
]


@pytest.mark.parametrize(("number", "valid", "kind", "synthetic"), TABLE)
def test_national_id_table(
    number: str, valid: bool, kind: IdKind | None, synthetic: bool | None
) -> None:
    if valid:
        result = validate_national_id(number, allow_synthetic=True)
        assert (result.kind, result.synthetic) == (kind, synthetic)
    else:
        with pytest.raises(InvalidIdentifier) as exc:
            validate_national_id(number, allow_synthetic=True)
        assert exc.value.code == "invalid_checksum"


def test_h_numbers_are_not_test_data() -> None:
    """Real H-numbers exist in production: accepted with test data off, unlike Tenor numbers."""
    result = validate_national_id("15499010076", allow_synthetic=False)
    assert (result.kind, result.synthetic) == (HNR, False)


def test_h_number_date_must_be_real() -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_national_id("31429010031", allow_synthetic=True)  # 31.(42 − 40 = 02)
    assert exc.value.code == "invalid_date"


# --- numbers of every kind, built from the spec's rules ---------------------------------------

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def with_check_digits(nine: str, k1_remainder: int) -> str | None:
    """The nine digits with K1 and K2 added so the K1 sum leaves `k1_remainder` (0 classic, 1–3
    the 2032 rule) and the K2 sum leaves 0; None where a check digit would have to be 10."""
    k1 = (k1_remainder - sum(w * int(c) for w, c in zip(K1_WEIGHTS, nine, strict=True))) % 11
    if k1 == 10:
        return None
    ten = nine + str(k1)
    k2 = -sum(w * int(c) for w, c in zip(K2_WEIGHTS, ten, strict=True)) % 11
    if k2 == 10:
        return None
    return ten + str(k2)


def test_the_generator_reproduces_the_spec_table() -> None:
    assert [with_check_digits("158990100", r) for r in range(4)] == [
        "15899010059",
        "15899010067",
        "15899010075",
        "15899010083",
    ]
    assert with_check_digits("558990100", 0) == "55899010042"
    assert with_check_digits("148190101", 0) == "14819010170"


# Variants: (day offset, month offset, expected kind, synthetic)
VARIANTS = {
    "fødselsnummer": (0, 0, FNR, False),
    "D-nummer": (40, 0, DNR, False),
    "H-nummer": (0, 40, HNR, False),
    "Tenor": (0, 80, FNR, True),
    "Tenor D-nummer": (40, 80, DNR, True),
    # Dolly's synthetic D-numbers: both offsets; the day's offset decides the kind.
    "D-nummer, month + 40": (40, 40, DNR, False),
}


@st.composite
def national_ids(draw: st.DrawFn) -> tuple[str, str, int]:
    variant = draw(st.sampled_from(sorted(VARIANTS)))
    day_offset, month_offset, _kind, _synthetic = VARIANTS[variant]
    born = draw(st.dates(datetime.date(1900, 1, 1), datetime.date(2039, 12, 31)))
    individual = draw(st.integers(0, 999))
    remainder = draw(st.integers(0, 3))
    nine = (
        f"{born.day + day_offset:02d}{born.month + month_offset:02d}{born.year % 100:02d}"
        f"{individual:03d}"
    )
    number = with_check_digits(nine, remainder)
    assume(number is not None)
    assert number is not None
    return variant, number, remainder


@given(national_ids())
def test_every_kind_of_valid_number_is_accepted(drawn: tuple[str, str, int]) -> None:
    variant, number, _remainder = drawn
    _d, _m, kind, synthetic = VARIANTS[variant]
    result = validate_national_id(number, allow_synthetic=True)
    assert (result.kind, result.synthetic) == (kind, synthetic), (variant, number)
    if synthetic:
        with pytest.raises(InvalidIdentifier) as exc:
            validate_national_id(number, allow_synthetic=False)
        assert exc.value.code == "synthetic_id"
    else:
        assert validate_national_id(number, allow_synthetic=False) == result


@given(national_ids(), st.sampled_from([9, 10]), st.integers(1, 9))
def test_a_corrupted_check_digit_is_refused(
    drawn: tuple[str, str, int], position: int, delta: int
) -> None:
    """Any other K1 or K2 breaks the K2 rule (K2 takes K1 at weight 2, and 2·δ is never a multiple
    of 11), so it is refused whatever the K1 remainder."""
    _variant, number, _remainder = drawn
    corrupted = (
        number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    )
    with pytest.raises(InvalidIdentifier) as exc:
        validate_national_id(corrupted, allow_synthetic=True)
    assert exc.value.code == "invalid_checksum", (number, corrupted)


@given(national_ids())
def test_k1_remainder_four_to_ten_is_refused(drawn: tuple[str, str, int]) -> None:
    """Move K1 so its sum leaves 4–10 and fix K2 to fit: only the K1 rule can refuse it."""
    _variant, number, remainder = drawn
    k1 = int(number[9])
    for other in range(10):
        r = (remainder + other - k1) % 11
        if r <= 3:
            continue
        ten = number[:9] + str(other)
        k2 = -sum(w * int(c) for w, c in zip(K2_WEIGHTS, ten, strict=True)) % 11
        if k2 == 10:
            continue
        with pytest.raises(InvalidIdentifier) as exc:
            validate_national_id(ten + str(k2), allow_synthetic=True)
        assert exc.value.code == "invalid_checksum", ten + str(k2)


def test_synthetic_numbers_refused_when_test_data_is_off() -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_national_id("15899010059", allow_synthetic=False)
    assert exc.value.code == "synthetic_id"


@pytest.mark.parametrize(
    "number", ["1589901005", "1589901005x", "158990100599", "１５８９９０１００５９"]
)
def test_national_id_format(number: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_national_id(number, allow_synthetic=True)
    assert exc.value.code == "invalid_format"


def test_k1_remainder_four_is_refused() -> None:
    # Walk K1 through all ten digits: exactly the remainders 0–3 may pass the K1 rule.
    passing = 0
    for k1 in range(10):
        body = "158990100" + str(k1)
        weights = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
        k2 = (11 - sum(w * int(c) for w, c in zip(weights, body, strict=True)) % 11) % 11
        if k2 == 10:
            continue
        try:
            validate_national_id(body + str(k2), allow_synthetic=True)
            passing += 1
        except InvalidIdentifier:
            pass
    assert passing == 4


def test_impossible_date_refused() -> None:
    # 31st of (80+2)=February, with valid check digits computed here.
    body = "31829010"
    k1w = (3, 7, 6, 1, 8, 9, 4, 5, 2)
    for ind in range(10):
        nine = body + str(ind)
        k1 = (11 - sum(w * int(c) for w, c in zip(k1w, nine, strict=True)) % 11) % 11
        if k1 == 10:
            continue
        ten = nine + str(k1)
        k2w = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
        k2 = (11 - sum(w * int(c) for w, c in zip(k2w, ten, strict=True)) % 11) % 11
        if k2 == 10:
            continue
        with pytest.raises(InvalidIdentifier) as exc:
            validate_national_id(ten + str(k2), allow_synthetic=True)
        assert exc.value.code == "invalid_date"
        return
    pytest.fail("no candidate number built")


def test_org_number() -> None:
    assert validate_org_number("988077917") == "988077917"
    with pytest.raises(InvalidIdentifier):
        validate_org_number("988077918")
    with pytest.raises(InvalidIdentifier):
        validate_org_number("98807791")


def test_mask() -> None:
    assert mask_national_id("15899010059") == "158990*****"


def test_kid_examples() -> None:
    assert kid_mod10_check_digit("1234567") == "4"
    assert kid_mod11_check_digit("4601000123") == "4"
    assert kid_mod11_check_digit("00012345202601") == "-"
    assert is_valid_kid("12345674")
    assert is_valid_kid("46010001234")
    assert is_valid_kid("00012345202601-")
    assert not is_valid_kid("12345675")
    assert not is_valid_kid("1")


def test_is_valid_national_id_answers_what_validate_decides() -> None:
    assert is_valid_national_id("15899010059", allow_synthetic=True)
    assert not is_valid_national_id("15899010059", allow_synthetic=False)  # Tenor, test data off
    assert is_valid_national_id("15499010076", allow_synthetic=False)  # H-nummer
    assert not is_valid_national_id("15899010050", allow_synthetic=True)


def _number_for(nine_prefix: str) -> str:
    """A valid number for the first eight digits, with the first individual digit that gives
    both check digits (computed here, classic rule)."""
    for last in "0123456789":
        number = with_check_digits(nine_prefix + last, 0)
        if number is not None:
            return number
    raise AssertionError(f"no valid number starts with {nine_prefix}")


@pytest.mark.parametrize("yy", range(100))
def test_29_february_exists_only_in_leap_years(yy: int) -> None:
    """The century is not in the number: 29.02.yy is a real day if 1900 + yy or 2000 + yy is a
    leap year, which is every fourth yy (00 through 2000)."""
    number = _number_for(f"2982{yy:02d}00")
    if yy % 4 == 0:
        assert validate_national_id(number, allow_synthetic=True).kind == FNR
    else:
        with pytest.raises(InvalidIdentifier) as exc:
            validate_national_id(number, allow_synthetic=True)
        assert exc.value.code == "invalid_date"


# What the care system and billing staff read for each refusal (the intake API passes it on).
REFUSALS = [
    ("1589901005", "invalid_format", "Fødselsnummer må være 11 siffer"),
    ("15899010050", "invalid_checksum", "Fødselsnummeret har feil kontrollsiffer"),  # K2
    ("15499010009", "invalid_checksum", "Fødselsnummeret har feil kontrollsiffer"),  # K1
    ("31429010031", "invalid_date", "Fødselsnummeret har ingen gyldig dato"),
]


@pytest.mark.parametrize(("number", "code", "message"), REFUSALS)
def test_each_refusal_has_its_code_and_bokmal_message(number: str, code: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_national_id(number, allow_synthetic=True)
    assert (exc.value.code, exc.value.message, str(exc.value)) == (code, message, message)


def test_synthetic_refusal_message() -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_national_id("15899010059", allow_synthetic=False)
    message = "Syntetiske testnumre er ikke tillatt i denne installasjonen"
    assert (exc.value.code, exc.value.message, str(exc.value)) == ("synthetic_id", message, message)


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        ("98807791", "invalid_format", "Organisasjonsnummer må være 9 siffer"),
        ("9880779170", "invalid_format", "Organisasjonsnummer må være 9 siffer"),
        ("98807791a", "invalid_format", "Organisasjonsnummer må være 9 siffer"),
        ("９８８０７７９１７", "invalid_format", "Organisasjonsnummer må være 9 siffer"),
        ("988077918", "invalid_checksum", "Organisasjonsnummeret har feil kontrollsiffer"),
    ],
)
def test_org_number_refusals(number: str, code: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier) as exc:
        validate_org_number(number)
    assert (exc.value.code, str(exc.value)) == (code, message)


# --- KID: check digits computed here from spec/identifiers.md, compared with the product's ------


def luhn_digit(body: str) -> str:
    total = 0
    for position, ch in enumerate(reversed(body)):
        doubled = int(ch) * (2 if position % 2 == 0 else 1)
        total += doubled // 10 + doubled % 10
    return str(-total % 10)


def mod11_digit(body: str) -> str:
    total = sum(int(ch) * (2 + position % 6) for position, ch in enumerate(reversed(body)))
    return {11: "0", 10: "-"}.get(11 - total % 11, str(11 - total % 11))


def test_the_kid_helpers_reproduce_the_spec_examples() -> None:
    assert luhn_digit("1234567") == "4"
    assert mod11_digit("4601000123") == "4"
    assert mod11_digit("00012345202601") == "-"


@given(st.text("0123456789", min_size=1, max_size=24))
def test_kid_check_digits_follow_the_spec(body: str) -> None:
    assert kid_mod10_check_digit(body) == luhn_digit(body)
    assert kid_mod11_check_digit(body) == mod11_digit(body)
    assert is_valid_kid(body + luhn_digit(body))
    assert is_valid_kid(body + mod11_digit(body))


def test_kid_check_digits_zero() -> None:
    # A sum that is a multiple of 10 (MOD10) or of 11 (MOD11) gives 0, not 10 or 11.
    assert kid_mod10_check_digit("0") == "0" == luhn_digit("0")
    assert kid_mod10_check_digit("19") == "0" == luhn_digit("19")
    assert kid_mod11_check_digit("0") == "0" == mod11_digit("0")
    assert kid_mod11_check_digit("014") == "0" == mod11_digit("014")


def test_kid_length_is_2_to_25() -> None:
    for length, accepted in ((1, False), (2, True), (25, True), (26, False)):
        body = ("1234567890" * 3)[: length - 1]
        kid = body + luhn_digit(body) if body else "0"
        assert is_valid_kid(kid) is accepted, kid


@pytest.mark.parametrize(
    "kid",
    [
        "12a45674",  # a letter in the body
        "1234567x",  # a letter as check digit
        "１２３４５６７４",  # full-width digits pass str.isdigit but are no KID
        "-4",  # the MOD11 sign belongs at the end only
    ],
)
def test_kid_that_is_not_digits_is_refused(kid: str) -> None:
    assert not is_valid_kid(kid)
