"""Each kind fires on a constructed history, and stays quiet just inside each threshold: both
the share and the amount (or count) must be passed (docs/anomalies.md)."""

from __future__ import annotations

import datetime

import pytest

from invoices.anomalies.history import months_with_data
from invoices.models import (
    AnomalyKind,
    AnomalySettings,
    BasisKind,
    BasisStatus,
    InvoiceLine,
    Municipality,
)
from invoices.validation import validate_stored
from tests import factories
from tests.anomalies.helpers import LAST3, PERIOD, bill, filler, kinds, kr, of_kind, payer

pytestmark = pytest.mark.django_db

FAR_OFF = AnomalyKind.PAYER_FAR_OFF


def _history(m: Municipality, amounts_kr: list[float], now_kr: float) -> None:
    """Payer 0 billed `amounts_kr` in the three months before PERIOD (latest first), and
    `now_kr` now."""
    who = payer(m, 0)
    filler(m, [*LAST3, PERIOD])
    for period, amount in zip(LAST3, amounts_kr, strict=True):
        bill(m, period, who, kr(amount))
    bill(m, PERIOD, who, kr(now_kr), status=BasisStatus.RECEIVED)


# --- payer far off -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "now", "fires"),
    [
        ([1000, 1000, 1000], 1500.01, True),  # +50.001 % and +500.01 kr
        ([1000, 1000, 1000], 1500.00, False),  # exactly 50 % and 500 kr: not beyond
        ([1000, 1000, 1000], 499.99, True),  # down as far
        ([2000, 2000, 2000], 3000.00, False),  # +1 000 kr, but exactly 50 %: share inside
        ([2000, 2000, 2000], 3000.01, True),
        ([500, 500, 500], 1000.00, False),  # +100 %, but exactly 500 kr: amount inside
        ([500, 500, 500], 1000.01, True),
        ([1000, 1000, 9000], 1000, False),  # the median, not the mean (3 667 kr)
        ([1000, 9000, 9000], 1000, True),  # median 9 000 kr
    ],
)
def test_payer_far_off_needs_both_thresholds(
    kommune_a: Municipality, history: list[float], now: float, fires: bool
) -> None:
    _history(kommune_a, history, now)
    found = of_kind(kommune_a, FAR_OFF)
    assert bool(found) is fires
    if fires:
        (finding,) = found
        assert finding.figures["total"] == kr(now)
        assert finding.figures["median"] == kr(sorted(history)[1])
        assert [m[0] for m in finding.figures["months"]] == LAST3


def test_payer_far_off_follows_the_municipality_thresholds(kommune_a: Municipality) -> None:
    _history(kommune_a, [1000, 1000, 1000], 1150)
    assert not of_kind(kommune_a, FAR_OFF)
    AnomalySettings.objects.create(municipality=kommune_a, share_percent=10, amount_ore=kr(100))
    assert len(of_kind(kommune_a, FAR_OFF)) == 1


def test_payer_median_of_their_own_last_three_billed_months(kommune_a: Municipality) -> None:
    """Months in which the payer had nothing are not zeros: the median is of the months they
    were billed in, the latest three of the last twelve."""
    who = payer(kommune_a, 0)
    periods = ["2026-09", "2026-08", "2026-07", "2026-06", "2026-05"]
    filler(kommune_a, [*periods, PERIOD])
    bill(kommune_a, "2026-08", who, kr(4000))
    bill(kommune_a, "2026-06", who, kr(4000))
    bill(kommune_a, "2026-05", who, kr(4000))
    bill(kommune_a, PERIOD, who, kr(4000))
    assert not of_kind(kommune_a, FAR_OFF)
    assert not of_kind(kommune_a, AnomalyKind.PAYER_NEW)


def test_payer_month_is_net_of_credit_notes_in_every_status(kommune_a: Municipality) -> None:
    """Billed = every basis of the month, any status, invoices and credit notes netted."""
    who = payer(kommune_a, 0)
    filler(kommune_a, [*LAST3, PERIOD])
    for period in LAST3:
        original = bill(kommune_a, period, who, kr(3000), status=BasisStatus.SENT)
        factories.basis(
            kommune_a,
            period=period,
            payer=who,
            kind=BasisKind.CREDIT,
            credits=original,
            status=BasisStatus.EXPORTED,
            lines=[{"quantity": "-1", "unit_price_ore": kr(2000)}],
        )
    bill(kommune_a, PERIOD, who, kr(1000), status=BasisStatus.RECEIVED)
    assert not of_kind(kommune_a, FAR_OFF)  # 1 000 kr net each month, as now
    bill(kommune_a, PERIOD, who, kr(600), status=BasisStatus.APPROVED)
    (finding,) = of_kind(kommune_a, FAR_OFF)
    assert finding.figures["median"] == kr(1000)
    assert finding.figures["total"] == kr(1600)
    assert finding.figures["count"] == 2
    assert finding.figures["months"][0] == ["2026-09", 2, kr(1000)]


# --- new payer -----------------------------------------------------------------------------------


def _months_back(n: int) -> list[str]:
    """The n calendar months before PERIOD, latest first."""
    out, year, month = [], 2026, 10
    for _ in range(n):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        out.append(f"{year}-{month:02d}")
    return out


def test_new_payer_is_none_of_the_last_twelve_months_with_data(kommune_a: Municipality) -> None:
    months = _months_back(13)
    filler(kommune_a, [*months, PERIOD])
    old, recent = payer(kommune_a, 0), payer(kommune_a, 2)
    bill(kommune_a, months[12], old, kr(200))  # 13 months back: outside the twelve
    bill(kommune_a, months[11], recent, kr(200))  # 12 months back: inside
    bill(kommune_a, PERIOD, old, kr(200))
    bill(kommune_a, PERIOD, recent, kr(200))
    new = of_kind(kommune_a, AnomalyKind.PAYER_NEW)
    assert [f.payer_id for f in new] == [old.pk]
    assert new[0].figures["count"] == 1 and new[0].figures["bases"][0]["total"] == kr(200)


def test_months_without_data_are_skipped(kommune_a: Municipality) -> None:
    """With a gap of a year, the twelve months with data reach further back."""
    months = _months_back(24)
    with_data = months[12:24]  # a year with data, then a year with none
    filler(kommune_a, [*with_data, PERIOD])
    assert months_with_data(kommune_a.pk, PERIOD) == with_data
    returning = payer(kommune_a, 0)
    bill(kommune_a, months[23], returning, kr(200))  # the 12th month with data
    bill(kommune_a, PERIOD, returning, kr(200))
    assert not of_kind(kommune_a, AnomalyKind.PAYER_NEW)


def test_no_history_means_nothing_is_new(kommune_a: Municipality) -> None:
    """The first month ever: every payer would be "new"; nothing is said instead."""
    bill(kommune_a, PERIOD, payer(kommune_a, 0), kr(200))
    assert months_with_data(kommune_a.pk, PERIOD) == []
    assert kinds(kommune_a) == []


def test_a_month_without_bases_has_no_warnings(kommune_a: Municipality) -> None:
    filler(kommune_a, LAST3)
    assert months_with_data(kommune_a.pk, PERIOD) is None
    assert kinds(kommune_a) == []


# --- regular payer missing -----------------------------------------------------------------------


def test_regular_payer_missing_shows_their_last_basis(kommune_a: Municipality) -> None:
    filler(kommune_a, [*LAST3, PERIOD])
    regular, twice = payer(kommune_a, 0), payer(kommune_a, 2)
    bases = [bill(kommune_a, period, regular, kr(300)) for period in LAST3]
    for period in LAST3[:2]:
        bill(kommune_a, period, twice, kr(300))  # not in 2026-07: not regular
    (missing,) = of_kind(kommune_a, AnomalyKind.PAYER_MISSING)
    assert missing.payer_id == regular.pk
    assert missing.basis_id == bases[0].pk
    assert missing.figures["last_basis"]["period"] == "2026-09"
    assert missing.figures["last_basis"]["ref"] == bases[0].source_reference
    assert [m[0] for m in missing.figures["months"]] == LAST3


def test_regular_means_each_of_the_last_three_months_with_data(kommune_a: Municipality) -> None:
    """2026-08 holds no basis at all: the last three months with data are 09, 07 and 06."""
    months = ["2026-09", "2026-07", "2026-06"]
    filler(kommune_a, [*months, PERIOD])
    regular = payer(kommune_a, 0)
    for period in months:
        bill(kommune_a, period, regular, kr(300))
    assert [f.payer_id for f in of_kind(kommune_a, AnomalyKind.PAYER_MISSING)] == [regular.pk]
    filler(kommune_a, ["2026-08"])  # now 2026-08 has data, and the payer is not in it
    assert of_kind(kommune_a, AnomalyKind.PAYER_MISSING) == []


# --- possible duplicates -------------------------------------------------------------------------


def _line(**kw: object) -> dict[str, object]:
    return {
        "quantity": "2",
        "unit_price_ore": kr(215),
        "description": "Praktisk bistand 03.10–05.10",
        "texts": ["Hjelp til rengjøring"],
        **kw,
    }


def test_two_identical_bases_are_one_duplicate(kommune_a: Municipality) -> None:
    who = payer(kommune_a, 0)
    lines = [_line(), _line(quantity="3")]
    first = factories.basis(kommune_a, payer=who, lines=lines)
    second = factories.basis(kommune_a, payer=who, lines=lines)
    (dup,) = of_kind(kommune_a, AnomalyKind.DUPLICATE)
    assert dup.figures["what"] == "bases"
    assert {dup.basis_id, dup.other_basis_id} == {first.pk, second.pk}
    assert dup.figures["lines"] == 2
    assert [b["ref"] for b in dup.figures["bases"]] == [
        first.source_reference,
        second.source_reference,
    ]


def test_two_identical_lines_in_one_basis(kommune_a: Municipality) -> None:
    basis = factories.basis(kommune_a, payer=payer(kommune_a, 0), lines=[_line(), _line()])
    (dup,) = of_kind(kommune_a, AnomalyKind.DUPLICATE)
    assert dup.figures["what"] == "lines"
    assert [(x["basis_id"], x["line_no"]) for x in dup.figures["lines"]] == [
        (basis.pk, 1),
        (basis.pk, 2),
    ]
    assert dup.other_basis_id is None


def test_a_shared_line_of_two_different_bases_is_a_duplicate_line(
    kommune_a: Municipality,
) -> None:
    who = payer(kommune_a, 0)
    first = factories.basis(kommune_a, payer=who, lines=[_line(), _line(quantity="5")])
    second = factories.basis(kommune_a, payer=who, lines=[_line()])
    (dup,) = of_kind(kommune_a, AnomalyKind.DUPLICATE)
    assert dup.figures["what"] == "lines"
    assert (dup.basis_id, dup.other_basis_id) == (first.pk, second.pk)


@pytest.mark.parametrize(
    "differs",
    [
        {"texts": ["Handling"]},
        {"description": "Praktisk bistand 04.10–05.10"},
        {"quantity": "2.25"},
        {"unit_price_ore": kr(199)},
        {"service_from": datetime.date(2026, 10, 3)},
        {"service_to": datetime.date(2026, 10, 5)},
    ],
)
def test_lines_that_differ_in_text_date_or_amount_are_not_duplicates(
    kommune_a: Municipality, differs: dict[str, object]
) -> None:
    who = payer(kommune_a, 0)
    factories.basis(kommune_a, payer=who, lines=[_line()])
    dates = {k: differs.pop(k) for k in ("service_from", "service_to") if k in differs}
    second = factories.basis(kommune_a, payer=who, lines=[_line(**differs)])
    InvoiceLine.objects.filter(basis=second).update(**dates)  # the factory sets no dates
    assert of_kind(kommune_a, AnomalyKind.DUPLICATE) == []


def test_same_service_dates_are_part_of_alike(kommune_a: Municipality) -> None:
    who = payer(kommune_a, 0)
    day = datetime.date(2026, 10, 3)
    for _ in range(2):
        basis = factories.basis(kommune_a, payer=who, lines=[_line()])
        InvoiceLine.objects.filter(basis=basis).update(service_from=day, service_to=day)
    (dup,) = of_kind(kommune_a, AnomalyKind.DUPLICATE)
    assert dup.figures["what"] == "bases"


def test_same_lines_for_two_payers_are_not_duplicates(kommune_a: Municipality) -> None:
    factories.basis(kommune_a, payer=payer(kommune_a, 0), lines=[_line()])
    factories.basis(kommune_a, payer=payer(kommune_a, 2), lines=[_line()])
    assert of_kind(kommune_a, AnomalyKind.DUPLICATE) == []


# --- services and units --------------------------------------------------------------------------


def _alarms(m: Municipality, counts: list[int], now: int, price_kr: float) -> None:
    """`counts` Trygghetsalarm bases in each of LAST3, `now` in PERIOD; payers are organisations
    (one per basis), so payer warnings stay out of it."""
    alarm = factories.service(m, "TA", name="Trygghetsalarm", visma_vare="0200")
    trygg = factories.unit(m, "TRYGG", "Trygghetsalarmtjenesten")
    for period, n in [*zip(LAST3, counts, strict=True), (PERIOD, now)]:
        for i in range(n):
            who = factories.party(m, org_number=f"3{i:08d}", name=f"Org {i}")
            bill(m, period, who, kr(price_kr), service=alarm, unit_obj=trygg)


def test_the_trygghetsalarm_example_fires_on_count_and_total(kommune_a: Municipality) -> None:
    """26 bases / 7 900 kr in each month before, 47 / 14 200 kr now (issue 12)."""
    _alarms(kommune_a, [26, 26, 26], 47, 7900 / 26)
    (service,) = of_kind(kommune_a, AnomalyKind.SERVICE_MOVED)
    assert service.figures["which"] == ["count", "total"]
    assert service.figures["count_median"] == 26 and service.figures["count"] == 47
    assert [m[1] for m in service.figures["months"]] == [26, 26, 26]
    (unit,) = of_kind(kommune_a, AnomalyKind.UNIT_MOVED)
    assert unit.figures["count"] == 47


@pytest.mark.parametrize(
    ("now", "which"),
    [
        (6, []),  # +2 bases = the count threshold, +50 % = the share; +1 000 kr = 50 %
        (7, ["count", "total"]),  # +3 > 2 and +75 %; +1 500 kr and +75 %
    ],
)
def test_service_and_unit_counts_need_both_thresholds(
    kommune_a: Municipality, now: int, which: list[str]
) -> None:
    AnomalySettings.objects.create(municipality=kommune_a, count=2)
    _alarms(kommune_a, [4, 4, 4], now, 500)
    found = of_kind(kommune_a, AnomalyKind.SERVICE_MOVED)
    assert [f.figures["which"] for f in found] == ([which] if which else [])
    units = of_kind(kommune_a, AnomalyKind.UNIT_MOVED)
    assert [f.figures["which"] for f in units] == ([which] if which else [])


def test_count_inside_but_total_beyond(kommune_a: Municipality) -> None:
    """Same number of bases, twice the amount: only the total is beyond."""
    _alarms(kommune_a, [4, 4, 4], 0, 500)
    alarm = factories.service(kommune_a, "TA")
    trygg = factories.unit(kommune_a, "TRYGG")
    for i in range(4):
        who = factories.party(kommune_a, org_number=f"3{i:08d}")
        bill(kommune_a, PERIOD, who, kr(1000), service=alarm, unit_obj=trygg)
    (found,) = of_kind(kommune_a, AnomalyKind.SERVICE_MOVED)
    assert found.figures["which"] == ["total"]


def test_service_vanished_and_appeared(kommune_a: Municipality) -> None:
    meals = factories.service(kommune_a, "MAT", name="Matombringing")
    laundry = factories.service(kommune_a, "VASK", name="Vask av tøy")
    old = factories.service(kommune_a, "KO", name="Korttidsopphold")
    who = payer(kommune_a, 0)
    filler(kommune_a, [*LAST3, "2025-01", PERIOD])
    for period in LAST3:
        bill(kommune_a, period, who, kr(400), service=meals)
    bill(kommune_a, "2025-01", who, kr(400), service=old)  # billed once, long ago
    bill(kommune_a, PERIOD, who, kr(300), service=laundry)
    bill(kommune_a, PERIOD, who, kr(100), service=old)
    assert [f.service_id for f in of_kind(kommune_a, AnomalyKind.SERVICE_VANISHED)] == [meals.pk]
    assert [f.service_id for f in of_kind(kommune_a, AnomalyKind.SERVICE_APPEARED)] == [laundry.pk]
    # A vanished service is not reported a second time as moved.
    assert meals.pk not in [f.service_id for f in of_kind(kommune_a, AnomalyKind.SERVICE_MOVED)]


def test_service_in_two_of_three_months_has_not_vanished(kommune_a: Municipality) -> None:
    meals = factories.service(kommune_a, "MAT", name="Matombringing")
    filler(kommune_a, [*LAST3, PERIOD])
    for period in LAST3[:2]:
        bill(kommune_a, period, payer(kommune_a, 0), kr(400), service=meals)
    assert of_kind(kommune_a, AnomalyKind.SERVICE_VANISHED) == []


# --- zero amount ---------------------------------------------------------------------------------


def test_zero_amount_says_what_the_validation_report_says(kommune_a: Municipality) -> None:
    who = payer(kommune_a, 0)
    zero = bill(kommune_a, PERIOD, who, 0, status=BasisStatus.RECEIVED)
    approved_zero = bill(kommune_a, PERIOD, who, 0, status=BasisStatus.APPROVED)
    bill(kommune_a, PERIOD, who, kr(10), status=BasisStatus.RECEIVED)
    found = of_kind(kommune_a, AnomalyKind.ZERO_AMOUNT)
    assert sorted(f.basis_id for f in found) == sorted([zero.pk, approved_zero.pk])
    reports = validate_stored(kommune_a, kommune_a.invoice_bases.filter(period=PERIOD))
    said = sorted(pk for pk, r in reports.items() if any(i.code == "zero_amount" for i in r.issues))
    assert said == sorted(f.basis_id for f in found)


@pytest.mark.parametrize(("now_ore", "fires"), [(150_001, True), (150_000, False)])
def test_a_median_of_two_months_is_compared_exactly(
    kommune_a: Municipality, now_ore: int, fires: bool
) -> None:
    """Billed in two of the last months only: the median is 1 000,005 kr, half an øre, and the
    thresholds are held to it exactly (no rounding, no floats)."""
    who = payer(kommune_a, 0)
    filler(kommune_a, [*LAST3, PERIOD])
    bill(kommune_a, LAST3[0], who, 100_000)
    bill(kommune_a, LAST3[2], who, 100_001)
    bill(kommune_a, PERIOD, who, now_ore)
    found = of_kind(kommune_a, FAR_OFF)
    assert bool(found) is fires
    if fires:
        assert found[0].figures["median"] == 100_001  # shown rounded half up
        assert [m[0] for m in found[0].figures["months"]] == [LAST3[0], LAST3[2]]
