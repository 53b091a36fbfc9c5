"""Credit notes per line, part of a quantity, with a reason (issue 12, item 6): what is left to
credit per line, the bounds, the rounding of parts, the care system's own credit notes, the
month totals, the page, and two clerks at once."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from invoices import summaries
from invoices.amounts import amount_for
from invoices.credit import (
    BasisActionError,
    CreditRefused,
    LineBalance,
    balance_for,
    invoice_basis_credit,
    invoice_basis_credit_lines,
    part_problem,
)
from invoices.intake import intake_bases
from invoices.models import (
    AuditEvent,
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
)
from tests import factories
from tests.intake import helpers

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def invoice(m: Municipality, *, status: BasisStatus = BasisStatus.SENT, **kw: Any) -> InvoiceBasis:
    """4,00 × 215,00 kr of PB and 1,00 × 300,00 kr of TA: 1 160,00 kr."""
    ta = factories.service(m, "TA", name="Trygghetsalarm", visma_vare="0200")
    kw.setdefault(
        "lines",
        [
            {"quantity": "4.00", "unit_price_ore": 21500},
            {"service": ta, "quantity": "1.00", "unit_price_ore": 30000, "description": "Alarm"},
        ],
    )
    return factories.basis(m, status=status, source_reference=kw.pop("ref", "HT-1"), **kw)


def credit_notes(original: InvoiceBasis) -> list[InvoiceBasis]:
    return list(InvoiceBasis.objects.filter(credits=original).order_by("id"))


def no_drift(m: Municipality) -> None:
    assert summaries.drift(m.pk, "2026-10") == {}


# --- the service -------------------------------------------------------------------------------


def test_a_part_of_one_line_with_a_reason(kommune_a: Municipality, merkantil_a: Any) -> None:
    original = invoice(kommune_a)
    credit = invoice_basis_credit_lines(
        original, {1: D("1.50"), 2: D("0")}, reason="Ett besøk ble avlyst", actor=merkantil_a
    )
    assert credit.source_reference == "HT-1-K1"
    assert (credit.kind, credit.status, credit.credits_id) == (
        BasisKind.CREDIT,
        BasisStatus.RECEIVED,
        original.pk,
    )
    assert (credit.period, credit.unit_id, credit.payer_id, credit.recipient_id) == (
        original.period,
        original.unit_id,
        original.payer_id,
        original.recipient_id,
    )
    assert credit.credit_reason == "Ett besøk ble avlyst"
    lines = list(
        credit.lines.values_list(
            "line_no", "service__code", "quantity", "unit_price_ore", "amount_ore"
        )
    )
    assert lines == [(1, "PB", D("-1.50"), 21500, -32250)]
    assert (credit.total_ore, credit.line_count) == (-32250, 1)
    no_drift(kommune_a)

    balance = balance_for(original)
    assert [(b.remaining_quantity, b.remaining_ore) for b in balance.lines] == [
        (D("2.50"), 53750),
        (D("1.00"), 30000),
    ]
    assert (balance.credited_ore, balance.remaining_ore, balance.creditable) == (
        32250,
        116000 - 32250,
        True,
    )
    event = AuditEvent.objects.get(action="invoice_basis.credit")
    assert event.actor == merkantil_a
    assert event.data["reason"] == "Ett besøk ble avlyst"
    assert event.data["lines"] == [{"line_no": 1, "quantity": "1.50", "amount_ore": -32250}]
    assert event.data["total_ore"] == -32250


def test_several_notes_until_nothing_is_left(kommune_a: Municipality, merkantil_a: Any) -> None:
    original = invoice(kommune_a)
    invoice_basis_credit_lines(original, {1: D("1.50")}, reason="Avlyst", actor=merkantil_a)
    second = invoice_basis_credit_lines(
        original, {1: D("2.50"), 2: D("1")}, reason="Flyttet", actor=merkantil_a
    )
    assert second.source_reference == "HT-1-K2"
    assert second.total_ore == -(53750 + 30000)
    assert list(second.lines.values_list("line_no", "service__code", "quantity")) == [
        (1, "PB", D("-2.50")),
        (2, "TA", D("-1.00")),
    ]
    balance = balance_for(original)
    assert balance.remaining_ore == 0 and not balance.creditable
    assert [b.remaining_hundredths for b in balance.lines] == [0, 0]
    with pytest.raises(BasisActionError, match="ikke noe igjen"):
        invoice_basis_credit_lines(original, {2: D("1")}, reason="En gang til", actor=merkantil_a)
    with pytest.raises(BasisActionError):
        invoice_basis_credit(original, merkantil_a)
    assert sum(n.total_ore for n in credit_notes(original)) == -original.total_ore
    no_drift(kommune_a)


def test_the_full_credit_takes_what_is_left(kommune_a: Municipality, merkantil_a: Any) -> None:
    original = invoice(kommune_a)
    invoice_basis_credit_lines(original, {2: D("0.25")}, reason="Delvis", actor=merkantil_a)
    rest = invoice_basis_credit(original, merkantil_a, reason="Resten")
    assert list(rest.lines.values_list("quantity", "amount_ore")) == [
        (D("-4.00"), -86000),
        (D("-0.75"), -22500),
    ]
    assert sum(n.total_ore for n in credit_notes(original)) == -116000


@pytest.mark.parametrize(
    ("parts", "reason", "says"),
    [
        ({1: D("4.01")}, "x", "bare 4,00 igjen"),
        ({1: D("-1")}, "x", "ikke være negativt"),
        ({1: D("1.005")}, "x", "høyst to desimaler"),
        ({1: D("0"), 2: D("0")}, "x", "minst én linje"),
        ({}, "x", "minst én linje"),
        ({7: D("1")}, "x", "ingen linje 7"),
        ({1: D("1")}, "", "Skriv hvorfor"),
        ({1: D("1")}, "   ", "Skriv hvorfor"),
        ({1: D("1")}, "feil\x00", "kontrolltegn"),
        ({1: D("1")}, "x" * 501, "høyst 500 tegn"),
    ],
)
def test_what_cannot_be_credited_is_refused_and_nothing_is_written(
    kommune_a: Municipality, merkantil_a: Any, parts: dict[int, Decimal], reason: str, says: str
) -> None:
    original = invoice(kommune_a)
    with pytest.raises(CreditRefused, match=says):
        invoice_basis_credit_lines(original, parts, reason=reason, actor=merkantil_a)
    assert credit_notes(original) == []
    assert not AuditEvent.objects.filter(action="invoice_basis.credit").exists()
    no_drift(kommune_a)


@pytest.mark.parametrize(
    "status",
    [BasisStatus.RECEIVED, BasisStatus.APPROVED, BasisStatus.SENDING, BasisStatus.FAILED],
)
def test_only_exported_or_sent_invoices(
    kommune_a: Municipality, merkantil_a: Any, status: BasisStatus
) -> None:
    original = invoice(kommune_a, status=status)
    with pytest.raises(BasisActionError, match="eksporterte eller sendte"):
        invoice_basis_credit_lines(original, {1: D("1")}, reason="x", actor=merkantil_a)


# --- rounding --------------------------------------------------------------------------------


def test_parts_never_add_up_to_more_than_the_line(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    """1,00 × 3,33 kr: two halves would each round up to 1,67 kr, 3,34 kr in all. The half is
    refused with the nearest quantities that work; 0,49 and then the rest credit exactly 3,33."""
    original = factories.basis(
        kommune_a, status=BasisStatus.EXPORTED, lines=[{"quantity": "1.00", "unit_price_ore": 333}]
    )
    with pytest.raises(CreditRefused, match="0,49 eller 0,51") as refused:
        invoice_basis_credit_lines(original, {1: D("0.50")}, reason="Halv", actor=merkantil_a)
    assert set(refused.value.problems) == {1}
    first = invoice_basis_credit_lines(original, {1: D("0.49")}, reason="Del", actor=merkantil_a)
    assert first.total_ore == -amount_for(49, 333) == -163
    rest = invoice_basis_credit_lines(original, {1: D("0.51")}, reason="Rest", actor=merkantil_a)
    assert rest.total_ore == -170
    assert first.total_ore + rest.total_ore == -333
    # Every line of every note obeys the one amount rule, so the formats and Visma take them.
    for line in InvoiceLine.objects.filter(basis__credits=original):
        assert line.amount_ore == amount_for(int(line.quantity * 100), line.unit_price_ore)


def _line(quantity: Decimal, price: int) -> LineBalance:
    hundredths = int(quantity * 100)
    return LineBalance(
        InvoiceLine(
            line_no=1,
            quantity=quantity,
            unit_price_ore=price,
            amount_ore=amount_for(hundredths, price),
        )
    )


@settings(max_examples=300, deadline=None)
@given(
    hundredths=st.integers(min_value=1, max_value=5000),
    price=st.integers(min_value=0, max_value=99_999),
    asks=st.lists(st.integers(min_value=1, max_value=5000), max_size=12),
)
def test_any_sequence_of_parts_credits_exactly_the_line(
    hundredths: int, price: int, asks: list[int]
) -> None:
    """Whatever parts a clerk asks for, in any order: each accepted part is the amount rule's
    amount, the credited øre never pass the line's amount, and the rest is always creditable
    and then takes exactly what remains."""
    b = _line(Decimal(hundredths) / 100, price)
    for ask in asks:
        quantity = Decimal(ask) / 100
        if part_problem(b, quantity):
            continue
        amount = amount_for(ask, price)
        b.credited_hundredths += ask
        b.credited_ore += amount
        assert b.credited_ore <= b.line.amount_ore
    if b.remaining_hundredths:
        assert part_problem(b, b.remaining_quantity) == ""
        b.credited_ore += amount_for(b.remaining_hundredths, price)
        b.credited_hundredths = b.hundredths
    assert b.credited_ore == b.line.amount_ore


# --- the care system's credit notes ----------------------------------------------------------


def test_the_care_systems_credit_notes_count_too(kommune_a: Municipality, merkantil_a: Any) -> None:
    helpers.catalogue(kommune_a)
    intake_bases(
        kommune_a,
        [helpers.basis("HT-9", lines=[helpers.line(), helpers.line("TA", "1.00", 30000)])],
    )
    original = InvoiceBasis.objects.get(source_reference="HT-9")
    InvoiceBasis.objects.filter(pk=original.pk).update(status=BasisStatus.SENT)
    original.refresh_from_db()
    # From the care system: −1,00 of the PB line, and −50,00 kr at a price the invoice has not.
    intake_bases(
        kommune_a,
        [
            helpers.credit("HT-9-A", "HT-9", lines=[helpers.line(quantity="-1.00")]),
            helpers.credit(
                "HT-9-B", "HT-9", lines=[helpers.line("TA", quantity="-1.00", unit_price_ore=5000)]
            ),
        ],
    )
    balance = balance_for(original)
    assert [b.remaining_quantity for b in balance.lines] == [D("3.00"), D("1.00")]
    assert balance.remaining_ore == 116000 - 21500 - 5000
    with pytest.raises(CreditRefused, match="bare 3,00 igjen"):
        invoice_basis_credit_lines(original, {1: D("3.50")}, reason="x", actor=merkantil_a)
    # Both lines' rest is 945,00 kr, but the invoice has 895,00 kr left: the 50 kr the care
    # system credited at a price of its own count against the whole.
    with pytest.raises(CreditRefused, match="bare 895,00 kr er igjen"):
        invoice_basis_credit(original, merkantil_a)
    note = invoice_basis_credit_lines(
        original, {1: D("3.00"), 2: D("0.80")}, reason="Resten", actor=merkantil_a
    )
    assert note.total_ore == -(64500 + 24000)
    assert balance_for(original).remaining_ore == 116000 - 21500 - 5000 - 88500


# --- month totals ----------------------------------------------------------------------------


def test_a_partial_credit_note_is_counted_in_the_month(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    original = invoice(kommune_a)
    before = _received(kommune_a)
    invoice_basis_credit_lines(original, {1: D("1.00")}, reason="Avlyst", actor=merkantil_a)
    no_drift(kommune_a)
    assert _received(kommune_a) == (before[0] + 1, before[1] - 21500)


def _received(m: Municipality) -> tuple[int, int]:
    from invoices.models import UnitMonthTotal

    rows = UnitMonthTotal.objects.filter(municipality=m, period="2026-10", status="received")
    return (sum(r.bases for r in rows), sum(r.total_ore for r in rows))


# --- two clerks at once (PostgreSQL row locks) -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_clerks_at_once_cannot_credit_more_than_the_line(
    requires_postgres: None, kommune_a: Municipality, merkantil_a: Any, superbruker_a: Any
) -> None:
    original = invoice(kommune_a, lines=[{"quantity": "4.00", "unit_price_ore": 21500}])
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def credit(actor: Any) -> None:
        try:
            start.wait()
            outcomes.append(
                invoice_basis_credit_lines(original, {1: D("3.00")}, reason=f"{actor}", actor=actor)
            )
        except BasisActionError as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=credit, args=(u,)) for u in (merkantil_a, superbruker_a)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    made = [o for o in outcomes if isinstance(o, InvoiceBasis)]
    refused = [o for o in outcomes if isinstance(o, CreditRefused)]
    assert len(made) == 1 and len(refused) == 1, outcomes
    assert "bare 1,00 igjen" in refused[0].message
    assert InvoiceBasis.objects.filter(credits=original).count() == 1
    assert balance_for(original).remaining_ore == 86000 - 64500


# --- the page --------------------------------------------------------------------------------


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_form_lists_what_is_left_and_takes_a_comma(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    original = invoice(kommune_a)
    invoice_basis_credit_lines(
        original, {2: D("1")}, reason="Alarm levert tilbake", actor=merkantil_a
    )
    client = _client(merkantil_a)
    url = reverse("invoices:credit", args=[original.pk])
    page = client.get(url).content.decode()
    assert 'name="linje_1"' in page and 'name="linje_2"' not in page
    assert "Ferdig kreditert" in page and "Alarm levert tilbake" in page
    response = client.post(url, {"linje_1": "1,5", "reason": "Sykehusopphold"})
    note = InvoiceBasis.objects.get(source_reference="HT-1-K2")
    assert response["Location"] == reverse("invoices:detail", args=[note.pk])
    assert list(note.lines.values_list("quantity", flat=True)) == [D("-1.50")]
    detail = client.get(reverse("invoices:detail", args=[original.pk])).content.decode()
    assert "HT-1-K1" in detail and "HT-1-K2" in detail and "Sykehusopphold" in detail
    assert "537,50" in detail  # left: 2,50 × 215,00 kr


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"linje_1": "5", "reason": "x"}, "4,00"),
        ({"linje_1": "1", "reason": ""}, "Feltet er påkrevet"),
        ({"linje_1": "0", "linje_2": "", "reason": "x"}, "minst én linje"),
        ({"linje_1": "1,555", "reason": "x"}, "2 eller færre desimaler"),
    ],
)
def test_the_form_says_what_is_wrong(
    kommune_a: Municipality, merkantil_a: Any, data: dict[str, str], says: str
) -> None:
    original = invoice(kommune_a)
    response = _client(merkantil_a).post(reverse("invoices:credit", args=[original.pk]), data)
    assert response.status_code == 200
    assert says in response.content.decode()
    assert credit_notes(original) == []


HOSTILE = ["\x00", "a\x00b", "²", "9" * 30, "x" * 10_000, "\u202e", "NaN", "-1", "1e3"]
BAD_TEXT = ["\x00", "a\x00b", "\u202e", "x" * 10_000]


@pytest.mark.parametrize(
    "data",
    [{"linje_1": value, "reason": "x"} for value in HOSTILE]
    + [{"linje_1": "1", "reason": value} for value in BAD_TEXT],
    ids=repr,
)
def test_hostile_values_are_refused_in_words(
    kommune_a: Municipality, merkantil_a: Any, data: dict[str, str]
) -> None:
    original = invoice(kommune_a)
    response = _client(merkantil_a).post(reverse("invoices:credit", args=[original.pk]), data)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert credit_notes(original) == []


def test_the_button_is_gone_when_nothing_is_left(kommune_a: Municipality, merkantil_a: Any) -> None:
    original = invoice(kommune_a)
    client = _client(merkantil_a)
    detail = reverse("invoices:detail", args=[original.pk])
    credit_url = reverse("invoices:credit", args=[original.pk])
    assert credit_url in client.get(detail).content.decode()
    client.post(credit_url, {"alt": "1", "reason": "Alt feil"})
    page = client.get(detail).content.decode()
    assert credit_url not in page
    assert "ingenting igjen" in page
    response = client.get(credit_url, follow=True)
    assert "ikke noe igjen å kreditere" in response.content.decode()


def test_other_roles_and_municipalities(
    kommune_a: Municipality, admin_a: Any, merkantil_b: Any
) -> None:
    original = invoice(kommune_a)
    url = reverse("invoices:credit", args=[original.pk])
    assert _client(admin_a).post(url, {"alt": "1", "reason": "x"}).status_code == 403
    assert _client(merkantil_b).get(url).status_code == 404
    assert _client(merkantil_b).post(url, {"alt": "1", "reason": "x"}).status_code == 404
    assert credit_notes(original) == []
