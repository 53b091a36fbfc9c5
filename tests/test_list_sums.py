"""The list's sums per status, unit and service (loaded beside the list) equal what the rows say,
under every filter, though the per-service figures come from the month totals."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Count, Sum
from django.test import Client
from django.urls import reverse

from invoices.models import BasisStatus, InvoiceLine, Municipality
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(kommune_a: Municipality) -> None:
    south = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    alarm = factories.service(kommune_a, "TA", name="Trygghetsalarm", visma_vare="0200")
    alarm_line = {"service": alarm, "quantity": "1.00", "unit_price_ore": 30000}
    factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    factories.basis(kommune_a, lines=[{}, alarm_line])
    factories.basis(kommune_a, unit_obj=south, lines=[alarm_line, alarm_line])
    factories.basis(kommune_a, unit_obj=south, status=BasisStatus.EXPORTED)
    factories.basis(kommune_a, period="2026-09", lines=[alarm_line])


@pytest.mark.parametrize(
    "query",
    [{}, {"unit": "HJT-SOR"}, {"status": "approved"}, {"service": "TA"}, {"unit": "HJT-NORD"}],
)
def test_per_service_sums_match_the_lines(
    client: Client, merkantil_a: Any, month: None, query: dict[str, str]
) -> None:
    client.force_login(merkantil_a)
    response = client.get(reverse("invoices:list_summary"), {"period": "2026-10", **query})
    shown = {
        row["service__code"]: (row["count"], row["total"]) for row in response.context["by_service"]
    }
    lines = InvoiceLine.objects.filter(basis__period="2026-10")
    if "unit" in query:
        lines = lines.filter(basis__unit__code=query["unit"])
    if "status" in query:
        lines = lines.filter(basis__status=query["status"])
    if "service" in query:
        with_service = InvoiceLine.objects.filter(service__code=query["service"])
        lines = lines.filter(basis__in=with_service.values("basis_id"))
    expected = {
        row["service__code"]: (row["n"], row["t"])
        for row in lines.order_by()
        .values("service__code")
        .annotate(n=Count("id", distinct=True), t=Sum("amount_ore"))
    }
    assert shown == expected
    assert shown  # every filter here selects something


def test_the_line_sums_of_a_service_filter_do_not_nest_the_selection(
    client: Client, merkantil_a: Any, month: None
) -> None:
    """The selection is itself a subquery over the lines (bases with a line of the service); put
    inside the line sums' own subquery, PostgreSQL without statistics planned the two as nested
    loops over every line (minutes for a three-month demo). The ids are read first instead."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(merkantil_a)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(
            reverse("invoices:list_summary"), {"period": "2026-10", "service": "TA"}
        )
    assert response.status_code == 200
    sums = [q["sql"] for q in queries.captured_queries if 'SUM("invoices_invoiceline"' in q["sql"]]
    assert len(sums) == 1
    assert sums[0].count("SELECT") == 1, sums[0]
