"""Random valid bases → write → read gives back the same customers, amounts, quantities, texts
(after wrapping) and totals, in every layout; every line is exactly its record length."""

from __future__ import annotations

import dataclasses
import io
import itertools
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.formats import agresso_cs15, agresso_lg04, visma_file
from exports.formats.encoding import codec
from exports.formats.types import Basis, Customer, Line
from tests.export_formats import readers, samples
from tests.export_formats.ids import organisation_number, synthetic_fnr

PEOPLE = [synthetic_fnr(i) for i in range(6)] + [samples.DNR, samples.FNR_2032]
ORGANISATIONS = [organisation_number(i) for i in range(2)] + [samples.ORGNR]
LATIN1 = codec("iso-8859-1")
ALPHABET = "abcdefghijklmnopqrstuvwxyzæøåABCÆØÅ áčđŋšŧž-.,'“”–\n0123456789"
SLOTS = ("ansvar", "tjeneste", "", "", "prosjekt")

text = st.text(alphabet=ALPHABET, max_size=130).map(lambda t: t.strip())
name = st.text(alphabet=ALPHABET, min_size=1, max_size=60).filter(lambda t: t.strip())


@st.composite
def customers(draw: st.DrawFn) -> Customer:
    is_org = draw(st.booleans())
    identifier = draw(st.sampled_from(ORGANISATIONS if is_org else PEOPLE))
    return Customer(
        identifier=identifier,
        is_organisation=is_org,
        name=draw(name),
        address1=draw(text),
        address2=draw(text),
        postcode=f"{draw(st.integers(0, 9999)):04d}",
        place=draw(text),
        customer_number=str(draw(st.integers(1, 99_999_999))),
    )


@st.composite
def lines(draw: st.DrawFn, n: int, credit: bool) -> Line:
    hundredths = draw(st.integers(0, 999_999))
    quantity = Decimal(-hundredths if credit else hundredths).scaleb(-2)
    price = draw(st.integers(1, 999_999))  # with |quantity| < 10 000: amount < 10¹⁰
    amount = int((quantity * price).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Line(
        line_no=n,
        service_code=draw(st.sampled_from(["PB", "TRYGG", "MAT"])),
        description=draw(text),
        quantity=quantity,
        unit_price_ore=price,
        amount_ore=amount,
        visma_oppdragsgiver=draw(st.sampled_from(["013", "014"])),
        visma_vare=draw(st.sampled_from(["0100", "0200", "0300"])),
        agresso_article=draw(st.sampled_from(["PB01", "TA01", "MAT1"])),
        vat_code=draw(st.sampled_from(["0", "25", ""])),
        texts=tuple(draw(st.lists(text, max_size=3))),
        dimensions={
            "ansvar": str(draw(st.integers(0, 99_999_999))),
            "tjeneste": draw(st.sampled_from(["", "25400", "38010"])),
            "prosjekt": str(draw(st.integers(0, 99_999_999))),
        },
    )


@st.composite
def month(draw: st.DrawFn) -> list[Basis]:
    bases = []
    for pk in range(1, draw(st.integers(1, 6)) + 1):
        credit = draw(st.booleans())
        count = draw(st.integers(1, 4))
        payer = draw(customers())
        bases.append(
            Basis(
                pk=pk,
                reference=f"9999-{pk:09d}",
                source_reference=f"SRC-{pk}",
                period=draw(st.sampled_from(["2026-01", "2026-10", "2031-12"])),
                kind="credit" if credit else "invoice",
                payer=payer,
                recipient=draw(st.one_of(st.just(payer), customers())),
                unit_code="HJT",
                unit_name=draw(name),
                lines=tuple(draw(lines(i, credit)) for i in range(1, count + 1)),
            )
        )
    return bases


def _shown(value: str, width: int) -> str:
    return LATIN1.clean(value)[:width].rstrip(" ")


def _same_texts(read: list[str], written: tuple[str, ...], width: int) -> None:
    assert all(len(line) <= width for line in read)
    cleaned = [LATIN1.clean(t) for t in written]
    if all(len(t) <= width for t in cleaned):
        assert read == [t.rstrip(" ") for t in cleaned]
    # Wrapping may move and merge spaces, never lose or reorder a letter.
    assert "".join(read).replace(" ", "") == "".join(cleaned).replace(" ", "")


def _record_lengths(data: bytes, ending: bytes) -> list[int]:
    assert data.endswith(ending)
    return [len(line) for line in data[: -len(ending)].split(ending)]


ROUND_TRIP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(bases=month(), extended=st.booleans(), crlf=st.booleans())
def test_visma_round_trip(bases: list[Basis], extended: bool, crlf: bool) -> None:
    options = visma_file.VismaFileOptions(
        layout="extended" if extended else "basic",
        line_ending="\r\n" if crlf else "\n",
        kb_slots=SLOTS,
        reference_text="Runde",
    )
    assert [f for f in visma_file.validate(bases, options) if f.severity == "error"] == []
    out = io.BytesIO()
    summary = visma_file.write(bases, options, out)
    data = out.getvalue()

    lengths = _record_lengths(data, options.line_ending.encode())
    fl_length = 397 if extended else 163
    assert set(lengths) <= {63, fl_length, 74, 10}
    assert lengths[0] == 63 and lengths[-1] == 10
    parsed = readers.read_visma(io.BytesIO(data), options)
    assert parsed.record_count == len(lengths) == summary.records
    assert parsed.total_ore == summary.total_ore == sum(b.total_ore for b in bases)
    assert summary.count == len(bases)

    written = [(basis, line) for basis in bases for line in basis.lines]
    assert len(parsed.lines) == len(written)
    width = 40 if extended else 30
    for got, (basis, line) in zip(parsed.lines, written, strict=True):
        assert got.customer_id == basis.payer.identifier.zfill(11)
        assert got.name == _shown(basis.payer.name, width)
        assert got.address1 == _shown(basis.payer.address1, width)
        assert got.postcode == basis.payer.postcode
        assert (got.oppdragsgiver, got.vare) == (line.visma_oppdragsgiver, line.visma_vare)
        assert got.quantity == line.quantity
        assert got.unit_price_ore == line.unit_price_ore
        assert got.amount_ore == line.amount_ore
        _same_texts(got.texts, line.texts, 50)
        if extended:
            assert got.order_ref == basis.reference
            assert got.kb[0] == line.dimensions["ansvar"]
            assert got.kb[4] == line.dimensions["prosjekt"]
        else:
            assert got.case_no == basis.reference
    # LØPENR counts each (customer, oppdragsgiver, vare) from 01 within the file.
    keys = [(g.customer_id, g.oppdragsgiver, g.vare) for g in parsed.lines]
    assert [g.running_no for g in parsed.lines] == [
        keys[: i + 1].count(key) for i, key in enumerate(keys)
    ]


@ROUND_TRIP
@given(bases=month(), wide=st.booleans(), by_id=st.booleans())
def test_lg04_round_trip(bases: list[Basis], wide: bool, by_id: bool) -> None:
    options = dataclasses.replace(
        samples.LG04_WIDE if wide else samples.LG04_CLASSIC,
        customer_mode="id_in_text" if by_id else "apar_id",
    )
    assert [f for f in agresso_lg04.validate(bases, options) if f.severity == "error"] == []
    out = io.BytesIO()
    first = 380_000_000
    summary = agresso_lg04.write(bases, options, out, itertools.count(first))
    data = out.getvalue()

    lengths = _record_lengths(data, options.line_ending.encode())
    assert set(lengths) == {4324 if wide else 1905}
    assert summary.records == len(lengths)
    orders = readers.read_agresso(io.BytesIO(data), options)
    assert [o.order_id for o in orders] == list(range(first, first + len(bases)))
    assert summary.order_ids == {b.pk: first + i for i, b in enumerate(bases)}
    assert sum(o.total_ore for o in orders) == summary.total_ore
    assert summary.total_ore == sum(b.total_ore for b in bases)
    for order, basis in zip(orders, bases, strict=True):
        if by_id:
            assert (order.apar_id, order.text3, order.text4) == (
                "",
                basis.payer.identifier,
                basis.payer.identifier,
            )
        else:
            assert order.apar_id == basis.payer.customer_number
        assert order.period == basis.period
        assert order.ext_ord_ref == basis.reference
        assert order.currency == "NOK"
        assert len(order.items) == len(basis.lines)
        for item, line in zip(order.items, basis.lines, strict=True):
            assert item.amount_ore == line.amount_ore
            assert item.quantity == line.quantity
            assert item.article == line.agresso_article
            assert item.dimensions[0] == line.dimensions["ansvar"]
            assert item.dimensions[4] == line.dimensions["prosjekt"]
            assert item.dimensions[2] == ""
            _same_texts(item.texts, line.texts, 60)


@ROUND_TRIP
@given(bases=month())
def test_cs15_round_trip(bases: list[Basis]) -> None:
    out = io.BytesIO()
    summary = agresso_cs15.write_customers(agresso_cs15.distinct_payers(bases), samples.CS15, out)
    assert set(_record_lengths(out.getvalue(), b"\r\n")) == {1608}
    read = readers.read_customers(io.BytesIO(out.getvalue()), samples.CS15)
    firsts: dict[str, Customer] = {}
    for basis in bases:
        firsts.setdefault(basis.payer.identifier, basis.payer)
    assert summary.count == len(read) == len(firsts)
    for got, payer in zip(read, firsts.values(), strict=True):
        assert got.identifier == payer.identifier
        assert got.is_organisation == payer.is_organisation
        assert got.customer_number == payer.customer_number
        assert got.name == _shown(payer.name, 50)
        assert got.address1 == _shown(payer.address1, 40)
        assert got.postcode == payer.postcode
