"""A month of a few thousand bases: the downloads cost the same number of queries as a month of
twenty, the CSV streams in chunks read while it is sent, and the totals still match the page."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.tabular import CSV_ROWS_PER_CHUNK
from invoices.models import BasisStatus, InvoiceBasis, InvoiceLine, Municipality
from tests import factories
from tests.downloads.helpers import client_for, csv_ore, page_ore, read_csv, read_xlsx, xlsx_ore

pytestmark = pytest.mark.django_db

LARGE, SMALL = 3000, 20
URLS = {
    "bases_csv": reverse("invoices:month_bases_csv"),
    "lines_csv": reverse("invoices:month_lines_csv"),
    "xlsx": reverse("invoices:month_xlsx"),
    "report_csv": reverse("invoices:validation_report_csv"),
    "report_xlsx": reverse("invoices:validation_report_xlsx"),
}


def _bulk_month(m: Municipality, period: str, n: int) -> int:
    """`n` bases of two lines each, written in bulk; every tenth payer lacks an address (a
    warning in the Kontrollrapport). Returns the month's total in øre."""
    unit, service = factories.unit(m), factories.service(m)
    payers = [
        factories.party(m, factories.FNR_CLASSIC, name="Kari Nordmann"),
        factories.party(m, factories.DNR, name="Ola Nordmann", address1=""),
    ]
    bases = InvoiceBasis.objects.bulk_create(
        [
            InvoiceBasis(
                municipality=m,
                unit=unit,
                period=period,
                payer=payers[1 if i % 10 == 0 else 0],
                recipient=payers[0],
                source_reference=f"BULK-{period}-{i:06d}",
                status=BasisStatus.APPROVED if i % 2 else BasisStatus.RECEIVED,
                total_ore=21500 + 150 + i,
                line_count=2,
                content_hash=hashlib.sha256(f"{period}{i}".encode()).hexdigest(),
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                basis_id=basis.pk,
                line_no=no,
                service=service,
                description="Praktisk bistand",
                quantity=Decimal("1.00") if no == 1 else Decimal("0.50"),
                unit_price_ore=21500 if no == 1 else 300 + 2 * i,
                amount_ore=21500 if no == 1 else 150 + i,
                texts=["tekst"],
                dimensions={},
            )
            for i, basis in enumerate(bases)
            for no in (1, 2)
        ],
        batch_size=2000,
    )
    return sum(21500 + 150 + i for i in range(n))


@pytest.fixture
def months(kommune_a: Municipality) -> dict[str, int]:
    return {
        "2026-08": _bulk_month(kommune_a, "2026-08", SMALL),
        "2026-10": _bulk_month(kommune_a, "2026-10", LARGE),
    }


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200
        # Read to the end: the rows are read as the file is sent.
        for _chunk in response.streaming_content:
            pass
    return len(queries)


@pytest.mark.parametrize("name", sorted(URLS))
def test_queries_do_not_grow_with_the_month(
    months: dict[str, int], merkantil_a: Any, name: str
) -> None:
    client = client_for(merkantil_a)
    _queries(client, URLS[name] + "?period=2026-08")  # the session's first queries, once
    small = _queries(client, URLS[name] + "?period=2026-08")
    large = _queries(client, URLS[name] + "?period=2026-10")
    assert large == small, f"{name}: {small} queries for {SMALL} bases, {large} for {LARGE}"


def test_the_csv_streams_rows_read_while_it_is_sent(
    months: dict[str, int], merkantil_a: Any
) -> None:
    client = client_for(merkantil_a)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URLS["lines_csv"] + "?period=2026-10")
    assert response.streaming
    # The view answered without reading a line: the lines are read as the file is sent.
    assert not any("invoices_invoiceline" in q["sql"] for q in queries.captured_queries)
    chunks = list(response.streaming_content)  # type: ignore[attr-defined]
    assert len(chunks) >= 2 * LARGE // CSV_ROWS_PER_CHUNK
    assert max(len(c) for c in chunks) < 128 * 1024


def test_a_large_month_adds_up_to_the_page(months: dict[str, int], merkantil_a: Any) -> None:
    client = client_for(merkantil_a)
    page = client.get(reverse("invoices:list_summary") + "?period=2026-10").content.decode()
    total = page_ore(page, "total-sum")
    assert total == months["2026-10"]
    bases = read_csv(client.get(URLS["bases_csv"] + "?period=2026-10"))
    assert len(bases) == LARGE + 2 and csv_ore(bases[-1][13]) == total
    lines = read_csv(client.get(URLS["lines_csv"] + "?period=2026-10"))
    assert len(lines) == 2 * LARGE + 2 and csv_ore(lines[-1][8]) == total
    assert sum(csv_ore(r[8]) for r in lines[1:-1]) == total
    sheets = read_xlsx(client.get(URLS["xlsx"] + "?period=2026-10"))
    assert len(sheets["Grunnlag"]) == LARGE + 2 and len(sheets["Linjer"]) == 2 * LARGE + 2
    assert xlsx_ore(sheets["Grunnlag"][-1][13]) == total == xlsx_ore(sheets["Linjer"][-1][8])
    report = read_csv(client.get(URLS["report_csv"] + "?period=2026-10"))
    assert len(report) == LARGE // 10 + 2  # the payers without an address
