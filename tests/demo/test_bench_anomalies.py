"""B7's parts that run in seconds: discovery, the skip without PostgreSQL, and the history it
makes from a month (on the S month here): the month totals are right and the warnings it plants
fire."""

from __future__ import annotations

import pytest
from django.db.models import F, Sum

from bench import b7_anomalies
from bench import db as bench_db
from bench import run as runner
from bench.db import Unavailable
from invoices import anomalies, demo_data, summaries
from invoices.anomalies.recompute import compute
from invoices.models import AnomalyKind, InvoiceBasis

pytestmark = pytest.mark.django_db


def test_b7_is_discovered() -> None:
    assert dict(runner.discover())["B7"] == "bench.b7_anomalies"


def test_b7_without_postgresql_is_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_db, "is_postgres", lambda: False)
    with pytest.raises(Unavailable, match="PostgreSQL"):
        b7_anomalies.run(runner.parse_args(["--only", "B7"]))


def test_earlier_months_cross_the_year() -> None:
    assert b7_anomalies.earlier_months("2027-02", 3) == ["2027-01", "2026-12", "2026-11"]


def test_the_history_keeps_the_month_totals_right_and_plants_warnings(
    requires_postgres: None,
) -> None:
    municipality = demo_data.setup_demo_municipality()
    period = b7_anomalies.PERIOD
    demo_data.load_month(municipality, "S", seed=1, period=period)
    made = b7_anomalies.load_history(municipality, period)
    months = b7_anomalies.earlier_months(period)
    assert made["months_made"] == months
    for month in months:
        assert summaries.drift(municipality.pk, month) == {}
        assert InvoiceBasis.objects.filter(municipality=municipality, period=month).count() > 150
    # Every copied basis's total is the sum of its lines, the halved ones too.
    history_bases = InvoiceBasis.objects.filter(municipality=municipality, period__in=months)
    wrong = history_bases.annotate(lines_sum=Sum("lines__amount_ore")).exclude(
        total_ore=F("lines_sum")
    )
    assert not wrong.exists()
    # The invoices halved in the history are half (or so) of today's.
    compared = 0
    halved = b7_anomalies.halved_references(municipality, period)
    assert halved
    for original in InvoiceBasis.objects.filter(
        municipality=municipality, period=period, source_reference__in=halved, total_ore__gt=1000
    ):
        for month in months:
            copy = history_bases.filter(
                source_reference=f"H{month.replace('-', '')}:{original.source_reference}"
            ).first()
            if copy is not None:
                assert copy.total_ore < original.total_ore
                compared += 1
    assert compared
    # Credit notes point at their own month's copy of the invoice, with its payer.
    credits = InvoiceBasis.objects.filter(
        municipality=municipality, period=months[0], kind="credit"
    )
    assert credits.exists()
    for credit in credits.select_related("credits"):
        assert credit.credits is not None and credit.credits.period == months[0]
        assert credit.credits.payer_id == credit.payer_id
    # Loading again makes nothing new.
    assert b7_anomalies.load_history(municipality, period)["months_made"] == []

    computed = compute(municipality.pk, period, anomalies.thresholds_for(municipality))
    assert computed.months == months
    found = {str(f.kind) for f in computed.findings}
    assert {AnomalyKind.PAYER_NEW, AnomalyKind.PAYER_MISSING, AnomalyKind.ZERO_AMOUNT} <= found
