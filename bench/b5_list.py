"""B5: the invoice-basis list of the XL month costs what the S month's does.

The list page filtered to one month, 50 per page, first and last page, requested in-process through
Django's test client as a merkantil. Targets (spec/benchmarks.md): the same number of SQL queries
for S and XL, at most 15; server time XL/S ≤ 1.5 for each page.

B5o: the month overview (*Oversikt*) of the XL month with 12 months of history and its anomaly
warnings stored, against the same page for the S month (no history). On PostgreSQL the XL month
and its history are B7's (`bench.b7_anomalies.month_with_history`, made once per bench
database); SQLite has no such history and B5o says so and is skipped. Targets: the same number of
SQL queries for S and XL (the page reads per-month summaries, never the lines), server time
XL/S ≤ 1.5.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

from django.db import connection, reset_queries
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.common import Result
from bench.db import Month, bench_user, is_postgres, largest_size, load_month
from invoices.models import Role

PAGE_SIZE = 50
MAX_QUERIES = 15
MAX_RATIO = 1.5
WARMUP = 2
REPEAT = 9


def _get(client: Client, month: Month, page: int, view: str = "invoices:list") -> Any:
    query: dict[str, str | int] = {"period": month.period}
    if page:
        query["page"] = page
    response = client.get(reverse(view), query)
    if response.status_code != 200:
        raise RuntimeError(f"{view} page {page} of {month.period} answered {response.status_code}")
    return response


def _measure(
    client: Client, month: Month, page: int, view: str = "invoices:list"
) -> dict[str, Any]:
    for _ in range(WARMUP):
        _get(client, month, page, view)
    reset_queries()  # the debug log is bounded: a full one would hide new queries
    with CaptureQueriesContext(connection) as queries:
        _get(client, month, page, view)
    # Read now: the next request resets the log the context reads from.
    sql = [q["sql"] for q in queries.captured_queries]
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        _get(client, month, page, view)
        times.append(time.perf_counter() - started)
    return {
        "queries": len(sql),
        "sql": sql,
        "median_s": statistics.median(times),
        "min_s": min(times),
    }


def run(args: argparse.Namespace) -> list[Result]:
    small = load_month("S", args.seed)
    big = load_month(largest_size(args), args.seed)
    # Production-like: no debug query log; the test client's host is allowed.
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        client = Client()
        client.force_login(bench_user(Role.MERKANTIL))
        pages: dict[str, dict[str, Any]] = {}
        summaries: dict[str, float] = {}
        for month in (small, big):
            last = math.ceil(month.bases / PAGE_SIZE)
            pages[f"{month.size}-first"] = _measure(client, month, 1)
            pages[f"{month.size}-last"] = _measure(client, month, last)
            # The month's sums load in their own request; not part of B5's target, but shown.
            summary = []
            for _ in range(3):
                started = time.perf_counter()
                _get(client, month, 1, "invoices:list_summary")
                summary.append(time.perf_counter() - started)
            summaries[month.size] = statistics.median(summary)

    s, b = small.size, big.size
    counts = {key: page["queries"] for key, page in pages.items()}
    same = all(counts[f"{b}-{which}"] == counts[f"{s}-{which}"] for which in ("first", "last"))
    worst_big = max(counts[f"{b}-first"], counts[f"{b}-last"])
    worst_small = max(counts[f"{s}-first"], counts[f"{s}-last"])
    extra = {
        "sizes": [s, b],
        "query_counts": counts,
        "load_seconds": {s: small.load_seconds, b: big.load_seconds},
        "summary_request_s": summaries,
    }
    results = [
        Result(
            id="B5-queries",
            value=worst_big,
            baseline=worst_small,
            ratio=worst_big / worst_small if worst_small else math.inf,
            target=f"<= {MAX_QUERIES}, same",
            passed=same and worst_big <= MAX_QUERIES,
            unit="q",
            extra={**extra, "sql_" + b: pages[f"{b}-first"]["sql"]},
        )
    ]
    for which in ("first", "last"):
        value = pages[f"{b}-{which}"]["median_s"]
        baseline = pages[f"{s}-{which}"]["median_s"]
        ratio = value / baseline
        results.append(
            Result(
                id=f"B5-{which}",
                value=value,
                baseline=baseline,
                ratio=ratio,
                target=f"<= {MAX_RATIO}x",
                passed=ratio <= MAX_RATIO,
                unit="s",
                extra={
                    "sizes": [s, b],
                    "min_s": {s: pages[f"{s}-{which}"]["min_s"], b: pages[f"{b}-{which}"]["min_s"]},
                },
            )
        )
    return results + _overview(args, small)


def _overview(args: argparse.Namespace, small: Month) -> list[Result]:
    """B5o (module doc)."""
    if not is_postgres():
        print("B5o: skipped, its 12 months of history are made in PostgreSQL (set DATABASE_URL)")
        return []
    from bench.b7_anomalies import earlier_months, month_with_history
    from invoices import anomalies
    from invoices.models import InvoiceBasis

    big, history = month_with_history(args)
    anomalies.refresh(big.municipality, big.period)
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        client = Client()
        client.force_login(bench_user(Role.MERKANTIL))
        small_page = _measure(client, small, 0, "overview")
        big_page = _measure(client, big, 0, "overview")
    same = small_page["queries"] == big_page["queries"]
    ratio = big_page["median_s"] / small_page["median_s"]
    months = (
        InvoiceBasis.objects.filter(
            municipality=big.municipality, period__in=earlier_months(big.period)
        )
        .values("period")
        .distinct()
        .count()
    )
    note = f"{big.size} month {big.period} with {months} earlier months; S month without history"
    return [
        Result(
            id="B5o-queries",
            value=big_page["queries"],
            baseline=small_page["queries"],
            ratio=big_page["queries"] / small_page["queries"]
            if small_page["queries"]
            else math.inf,
            target="same",
            passed=same,
            unit="q",
            extra={"sql_" + big.size: big_page["sql"], "history": history},
            note=note,
        ),
        Result(
            id="B5o",
            value=big_page["median_s"],
            baseline=small_page["median_s"],
            ratio=ratio,
            target=f"<= {MAX_RATIO}x",
            passed=ratio <= MAX_RATIO,
            unit="s",
            extra={"min_s": {small.size: small_page["min_s"], big.size: big_page["min_s"]}},
            note=note,
        ),
    ]
