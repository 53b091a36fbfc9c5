import pytest

from invoices.identifiers import (
    IdKind,
    InvalidIdentifier,
    is_valid_kid,
    kid_mod10_check_digit,
    kid_mod11_check_digit,
    mask_national_id,
    validate_national_id,
    validate_org_number,
)

# The table from spec/identifiers.md.
TABLE = [
    ("15899010059", True, IdKind.FODSELSNUMMER),
    ("15899010067", True, IdKind.FODSELSNUMMER),
    ("15899010075", True, IdKind.FODSELSNUMMER),
    ("15899010083", True, IdKind.FODSELSNUMMER),
    ("55899010042", True, IdKind.D_NUMMER),
    ("15899010050", False, None),
    ("14819010170", True, IdKind.FODSELSNUMMER),
]


@pytest.mark.parametrize(("number", "valid", "kind"), TABLE)
def test_national_id_table(number: str, valid: bool, kind: IdKind | None) -> None:
    if valid:
        result = validate_national_id(number, allow_synthetic=True)
        assert result.kind == kind
        assert result.synthetic
    else:
        with pytest.raises(InvalidIdentifier) as exc:
            validate_national_id(number, allow_synthetic=True)
        assert exc.value.code == "invalid_checksum"


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
