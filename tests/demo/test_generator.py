"""The demo/benchmark generator: deterministic, exact sizes, and data the intake accepts."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from invoices import demo_data
from invoices.demo_data import (
    CATALOGUE,
    DIMENSIONS,
    SIZES,
    build_document,
    iter_invoice_bases,
    write_document,
)
from invoices.identifiers import (
    IdKind,
    InvalidIdentifier,
    validate_national_id,
    validate_org_number,
)

PERIOD = "2026-10"
QUANTITY = re.compile(r"-?[0-9]{1,7}(\.[0-9]{1,2})?")
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)


@pytest.fixture(scope="module")
def documents() -> dict[str, list[dict[str, Any]]]:
    return {size: list(iter_invoice_bases(size, seed=1, period=PERIOD)) for size in ("S", "M")}


def parties(basis: dict[str, Any]) -> list[dict[str, str]]:
    return [basis["payer"], *([basis["recipient"]] if "recipient" in basis else [])]


def payer_id(basis: dict[str, Any]) -> str:
    return basis["payer"].get("national_id") or basis["payer"]["org_number"]


def test_same_seed_same_document_other_seed_or_month_differs() -> None:
    first = build_document("S", seed=1, period=PERIOD)
    assert first == build_document("S", seed=1, period=PERIOD)
    assert first != build_document("S", seed=2, period=PERIOD)
    assert first["invoice_bases"] != build_document("S", seed=1, period="2026-11")["invoice_bases"]


@pytest.mark.parametrize("size", ["S", "M"])
def test_small_sizes_hit_their_counts(
    documents: dict[str, list[dict[str, Any]]], size: str
) -> None:
    bases = documents[size]
    assert len(bases) == SIZES[size].bases
    assert sum(len(b["lines"]) for b in bases) == SIZES[size].lines
    assert all(1 <= len(b["lines"]) <= 99 for b in bases)
    credits = sum(b["kind"] == "credit" for b in bases)
    # Every invoice has its own payer; credit notes share their invoice's.
    assert len({payer_id(b) for b in bases}) == SIZES[size].bases - credits


@pytest.mark.parametrize("size", ["L", "XL"])
def test_large_sizes_hit_their_counts(size: str) -> None:
    bases = lines = 0
    for basis in iter_invoice_bases(size, seed=1, period=PERIOD):
        bases += 1
        lines += len(basis["lines"])
        assert len(basis["lines"]) <= 99
    assert (bases, lines) == (SIZES[size].bases, SIZES[size].lines)


def test_every_identifier_is_valid_and_synthetic(
    documents: dict[str, list[dict[str, Any]]],
) -> None:
    kinds: Counter[str] = Counter()
    for basis in documents["S"] + documents["M"]:
        for party in parties(basis):
            if "org_number" in party:
                assert validate_org_number(party["org_number"]) == party["org_number"]
                # Enhetsregisteret assigns numbers starting with 8 or 9 only.
                assert party["org_number"][0] not in "89"
                kinds["org"] += 1
                continue
            number = party["national_id"]
            result = validate_national_id(number, allow_synthetic=True)
            assert result.synthetic, number
            with pytest.raises(InvalidIdentifier):
                validate_national_id(number, allow_synthetic=False)
            kinds[result.kind] += 1
            k1_sum = sum(w * int(c) for w, c in zip(_K1_WEIGHTS, number[:9], strict=True))
            k1_remainder = (k1_sum + int(number[9])) % 11
            kinds["2032" if k1_remainder else "classic"] += 1
    assert kinds[IdKind.D_NUMMER] > 0
    assert kinds["2032"] > 0
    assert kinds["classic"] > kinds["2032"]
    assert kinds["org"] > 0


def test_content_is_varied_like_a_real_month(documents: dict[str, list[dict[str, Any]]]) -> None:
    for size in ("S", "M"):
        bases = documents[size]
        assert sum(b["kind"] == "credit" for b in bases) >= 2
        invoices = [b for b in bases if b["kind"] == "invoice"]
        assert sum(all(ln["amount_ore"] == 0 for ln in b["lines"]) for b in invoices) >= 2
        guardians = [
            b
            for b in bases
            if "recipient" in b and b["recipient"]["national_id"] != b["payer"].get("national_id")
        ]
        assert guardians
        names = " ".join(p["name"] for b in bases for p in parties(b))
        assert set("æøå") <= set(names.lower())
        assert set("áčŋ") & set(names.lower())
        lines = [ln for b in bases for ln in b["lines"]]
        assert any("dimensions" in ln for ln in lines)
        assert {ln["service_code"] for ln in lines} == {s.code for s in CATALOGUE}
        assert len({b["unit"]["code"] for b in bases}) == len(demo_data.UNITS)


def test_amounts_follow_the_rounding_rule(documents: dict[str, list[dict[str, Any]]]) -> None:
    ties = 0
    for basis in documents["S"] + documents["M"]:
        for line in basis["lines"]:
            assert QUANTITY.fullmatch(line["quantity"]), line["quantity"]
            assert type(line["unit_price_ore"]) is int and type(line["amount_ore"]) is int
            exact = Decimal(line["quantity"]) * line["unit_price_ore"]
            expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
            assert line["amount_ore"] == expected
            ties += exact % 1 == Decimal("0.5") or exact % 1 == Decimal("-0.5")
            assert 0 <= line["unit_price_ore"] < 10**8
            if basis["kind"] == "invoice":
                assert line["amount_ore"] >= 0
            else:
                assert Decimal(line["quantity"]) < 0 and line["amount_ore"] < 0
    assert ties > 0  # the half-øre case really occurs


def test_credits_point_at_an_earlier_invoice_of_the_same_payer(
    documents: dict[str, list[dict[str, Any]]],
) -> None:
    for bases in documents.values():
        seen: dict[str, dict[str, Any]] = {}
        credited = []
        for basis in bases:
            if basis["kind"] == "credit":
                original = seen[basis["credits"]]  # KeyError: not earlier in the stream
                assert original["kind"] == "invoice"
                assert payer_id(original) == payer_id(basis)
                assert basis["unit"] == original["unit"]
                originals = {(ln["service_code"], ln["unit_price_ore"]) for ln in original["lines"]}
                for line in basis["lines"]:
                    assert (line["service_code"], line["unit_price_ore"]) in originals
                credited.append(basis["credits"])
            else:
                assert basis["credits"] is None
            seen[basis["source_reference"]] = basis
        assert credited and len(credited) == len(set(credited))


def test_texts_and_lengths_fit_the_intake_rules(documents: dict[str, list[dict[str, Any]]]) -> None:
    services = {s.code for s in CATALOGUE}
    dimension_keys = {key for key, _ in DIMENSIONS}
    for bases in documents.values():
        references = [b["source_reference"] for b in bases]
        assert len(set(references)) == len(references)
        assert (
            max(
                len(t)
                for ln in (ln for b in bases for ln in b["lines"])
                for t in ln.get("texts", [])
            )
            == 50
        )
        assert max(len(ln.get("texts", [])) for b in bases for ln in b["lines"]) == 99
        for basis in bases:
            assert 1 <= len(basis["source_reference"]) <= 64
            assert basis["period"] == PERIOD
            for party in parties(basis):
                assert all(len(v) <= 100 for v in party.values())
                assert len(party.get("postcode", "0000")) == 4
            for line in basis["lines"]:
                assert line["service_code"] in services
                assert set(line.get("dimensions", {})) <= dimension_keys
                assert len(line["description"]) <= 200
                assert len(line.get("texts", [])) <= 99
                assert all(0 < len(t) <= 50 for t in line.get("texts", []))
                assert PERIOD <= line["service_from"][:7] <= line["service_to"][:7] == PERIOD


def test_a_person_looks_the_same_in_every_size_and_month() -> None:
    names: dict[str, str] = {}
    for size, period in (("S", "2026-09"), ("M", "2026-10")):
        for basis in iter_invoice_bases(size, seed=1, period=period):
            for party in parties(basis):
                key = party.get("national_id") or party["org_number"]
                assert names.setdefault(key, party["name"]) == party["name"]


def test_file_writer_streams_valid_json_equal_to_the_iterator(tmp_path: Any) -> None:
    path = tmp_path / "s.json"
    count = write_document(path, "S", seed=3, period=PERIOD)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert count == 200
    assert document == build_document("S", seed=3, period=PERIOD)
    buffer = io.StringIO()
    write_document(buffer, "S", seed=3, period=PERIOD, municipality="9998")
    assert json.loads(buffer.getvalue())["municipality"] == "9998"


@pytest.mark.parametrize(
    ("size", "period"), [("XXL", PERIOD), ("S", "2026-13"), ("S", "2026-1"), ("S", "okt")]
)
def test_bad_arguments_are_refused(size: str, period: str) -> None:
    with pytest.raises(ValueError):
        next(iter_invoice_bases(size, seed=1, period=period))


def test_previous_period_is_last_month() -> None:
    import datetime

    assert demo_data.previous_period(datetime.date(2026, 1, 15)) == "2025-12"
    assert demo_data.previous_period(datetime.date(2026, 3, 31)) == "2026-02"
