"""*Oversikt*: the month per status, service and unit with last month and a 13-month trend, the
next step, and a cost that does not grow with the month."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from invoices.models import BasisStatus, Municipality, TransferRoute
from tests import factories

pytestmark = pytest.mark.django_db

OCT, SEP = "2026-10", "2026-09"


@pytest.fixture
def month(kommune_a: Municipality) -> dict[str, Any]:
    south = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    alarm = factories.service(kommune_a, "TA", name="Trygghetsalarm", visma_vare="0200")
    pb = factories.service(kommune_a)
    # September: 1 PB basis (860 kr) in the north. October: 2 PB in the north, one received;
    # 3 alarm bases (300 kr each) in the south, one approved.
    factories.basis(kommune_a, period=SEP, status=BasisStatus.EXPORTED)
    factories.basis(kommune_a, period=OCT, status=BasisStatus.EXPORTED)
    factories.basis(kommune_a, period=OCT, status=BasisStatus.RECEIVED)
    alarm_line = {"service": alarm, "quantity": "1.00", "unit_price_ore": 30000}
    for status in (BasisStatus.APPROVED, BasisStatus.EXPORTED, BasisStatus.EXPORTED):
        factories.basis(kommune_a, period=OCT, unit_obj=south, lines=[alarm_line], status=status)
    return {"south": south, "alarm": alarm, "pb": pb}


def page(client: Client, user: Any, **query: str) -> str:
    client.force_login(user)
    response = client.get(reverse("overview"), query)
    assert response.status_code == 200
    # One money format everywhere: "1 234,56 kr" with non-breaking spaces, compared as spaces.
    return response.content.decode().replace("\xa0", " ")


def test_the_month_in_numbers(client: Client, merkantil_a: Any, month: dict[str, Any]) -> None:
    body = page(client, merkantil_a, period=OCT)
    assert re.search(r'data-testid="total-count">5<', body)
    assert "2 620,00 kr" in body  # 2 × 860 + 3 × 300
    # Per service and unit, with last month beside it.
    changes = body[body.index('data-testid="changes-service"') :]
    assert "Trygghetsalarm" in changes and "+900,00 kr" in changes
    assert "+860,00 kr (+100 %)" in changes  # PB 860 → 1 720
    # The trend: 13 months, September and October filled in.
    trend = body[body.index('data-testid="trend-table"') :]
    assert trend.count("<tr") == 14
    assert "2025-10" in trend and "860,00 kr" in trend
    assert 'data-testid="chart-services"' in body and 'data-testid="chart-trend"' in body


def test_one_unit(client: Client, merkantil_a: Any, month: dict[str, Any]) -> None:
    body = page(client, merkantil_a, period=OCT, unit="HJT-SOR")
    assert re.search(r'data-testid="total-count">3<', body)
    assert "900,00 kr" in body
    assert 'data-testid="chart-units"' not in body


def test_the_next_step_follows_the_month_and_the_route(
    client: Client, merkantil_a: Any, month: dict[str, Any], kommune_a: Municipality
) -> None:
    body = page(client, merkantil_a, period=OCT)
    steps = body[body.index('data-testid="next-steps"') :]
    assert reverse("invoices:validation_report") in steps
    assert reverse("exports:start") in steps  # the file route is the default
    factories.accounting(kommune_a, transfer_route=TransferRoute.VISMA_API)
    steps = page(client, merkantil_a, period=OCT)
    assert reverse("integrations:send") in steps and reverse("exports:start") not in steps


def test_landing_page_by_role(
    client: Client, merkantil_a: Any, admin_a: Any, month: dict[str, Any]
) -> None:
    client.force_login(merkantil_a)
    assert client.get(reverse("home"))["Location"] == reverse("overview")
    client.force_login(admin_a)
    assert client.get(reverse("home"))["Location"] == reverse("invoices:list")


def test_another_municipality_sees_only_its_own(
    client: Client, merkantil_b: Any, month: dict[str, Any]
) -> None:
    body = page(client, merkantil_b, period=OCT)
    assert "Trygghetsalarm" not in body and "2 620,00" not in body


def test_the_page_costs_the_same_for_a_bigger_month(
    client: Client, merkantil_a: Any, kommune_a: Municipality
) -> None:
    def queries() -> int:
        client.force_login(merkantil_a)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("overview"), {"period": OCT}).status_code == 200
        return len(captured)

    factories.basis(kommune_a, period=OCT)
    small = queries()
    for n in range(12):
        factories.basis(kommune_a, period=f"2025-{n + 1:02d}")
        factories.unit(kommune_a, f"U{n}", f"Enhet {n}")
    for _ in range(20):
        factories.basis(kommune_a, period=OCT)
    assert queries() == small


def test_charts_are_machine_numbers_whatever_the_language(
    client: Client, merkantil_a: Any, month: dict[str, Any]
) -> None:
    """SVG coordinates are never localized: a decimal comma would break every bar."""
    body = page(client, merkantil_a, period=OCT)
    svgs = re.findall(r"<svg.*?</svg>", body, flags=re.S)
    assert len(svgs) == 3
    numbers = re.findall(r'\b(?:x|y|x1|x2|y1|y2|width|height)="([^"]*)"', "".join(svgs))
    assert numbers and all(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", n) for n in numbers), numbers
    bars = re.findall(r'<rect [^>]*width="([0-9.]+)"', svgs[0])
    assert sorted(float(w) for w in bars)[-1] > 0  # the bars are drawn


def test_bars_scale_to_the_largest_and_negatives_draw_left_of_zero() -> None:
    from invoices import charts

    chart = charts.horizontal([("A", 1000), ("B", 500), ("C", -500)])
    a, b, c = chart.bars
    assert a.width == pytest.approx(2 * b.width, abs=0.2) and b.width == c.width
    assert b.x == chart.axis and c.x + c.width == pytest.approx(chart.axis) and c.x < chart.axis
    trend = charts.columns([("2026-01", 100, "1"), ("2026-02", 50, "1")], current="2026-02")
    assert trend.bars[0].height == pytest.approx(2 * trend.bars[1].height, abs=0.2)
    assert [bar.highlight for bar in trend.bars] == [False, True]
    assert [bar.short for bar in trend.bars] == ["jan 26", "feb"]


def test_the_months_warnings_stand_on_the_overview(
    client: Client, merkantil_a: Any, kommune_a: Municipality, month: dict[str, Any]
) -> None:
    """Stored warnings are counted per kind, linked to their page, and an unacknowledged one is a
    next step; the page reads what is stored and never computes."""
    from invoices import anomalies
    from invoices.models import Anomaly, AnomalyRun

    body = page(client, merkantil_a, period=OCT)
    panel = body[body.index('data-testid="overview-anomalies"') :]
    assert "Ikke beregnet for måneden ennå." in panel
    assert not AnomalyRun.objects.exists()  # the page did not compute

    anomalies.refresh(kommune_a, OCT)
    stored = Anomaly.objects.filter(municipality=kommune_a, period=OCT)
    assert stored.exists()
    body = page(client, merkantil_a, period=OCT)
    panel = body[body.index('data-testid="overview-anomalies"') : body.index('id="svc-title"')]
    for kind, label in {(a.kind, str(a.get_kind_display())) for a in stored}:
        count = stored.filter(kind=kind).count()
        assert f'title="{kind}">{label}</a>: <strong>{count}</strong>' in panel
    steps = body[body.index('data-testid="next-steps"') : body.index('data-testid="status-tiles"')]
    n = stored.count()
    assert f"{n} avviksvars" in steps and "/fakturagrunnlag/avvik/?period=2026-10" in steps

    # Acknowledged, they stay counted but are no longer a step.
    stored.update(
        acknowledged_at=timezone.now(), acknowledged_by=merkantil_a, acknowledged_note="sjekket"
    )
    body = page(client, merkantil_a, period=OCT)
    steps = body[body.index('data-testid="next-steps"') : body.index('data-testid="status-tiles"')]
    assert "avviksvars" not in steps
    assert f"({stored.filter(kind=stored[0].kind).count()} kvittert)" in body
