"""`invoices.paging.Paginator`: the same pages as Django's, the second half read from the end."""

from __future__ import annotations

import re

import pytest
from django.core import paginator as django_paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.paging import Paginator
from invoices.models import Municipality, Unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def units(kommune_a: Municipality) -> list[int]:
    made = Unit.objects.bulk_create(
        Unit(municipality=kommune_a, code=f"U{n:02d}", name=f"Enhet {n % 3}") for n in range(23)
    )
    return [u.pk for u in made]


# Names repeat, so ("name", "id") is a total order only thanks to the id, and ("name",) is not.
ORDERINGS = [("id",), ("-id",), ("name", "id"), ("-name", "-pk"), ("name",)]


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_every_page_is_the_page_django_gives(units: list[int], ordering: tuple[str, ...]) -> None:
    for count in (0, 1, 2, 5, 9, 10, 11, 23):
        rows = Unit.objects.filter(pk__in=units[:count]).order_by(*ordering)
        for per_page in (1, 3, 5, 10):
            for orphans in (0, 2):
                ours = Paginator(rows.values_list("pk", flat=True), per_page, orphans=orphans)
                theirs = django_paginator.Paginator(
                    rows.values_list("pk", flat=True), per_page, orphans=orphans
                )
                assert ours.num_pages == theirs.num_pages
                for number in ours.page_range:
                    mine, reference = ours.page(number), theirs.page(number)
                    assert list(mine) == list(reference), (count, per_page, orphans, number)
                    assert (mine.start_index(), mine.end_index()) == (
                        reference.start_index(),
                        reference.end_index(),
                    )


def _offset(sql: str) -> int:
    found = re.search(r"OFFSET (\d+)", sql)
    return int(found.group(1)) if found else 0


def test_the_last_page_is_read_from_the_end(units: list[int]) -> None:
    rows = Unit.objects.filter(pk__in=units).order_by("id").values_list("pk", flat=True)
    pages = Paginator(rows, 5)
    pages.count  # noqa: B018 - counted before the page query is captured
    with CaptureQueriesContext(connection) as queries:
        last = list(pages.page(pages.num_pages))
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert last == sorted(units)[20:]
    assert "DESC" in sql and _offset(sql) == 0


def test_an_ordering_that_is_not_total_is_paged_the_usual_way(units: list[int]) -> None:
    rows = Unit.objects.filter(pk__in=units).order_by("name").values_list("pk", flat=True)
    pages = Paginator(rows, 5)
    pages.count  # noqa: B018
    with CaptureQueriesContext(connection) as queries:
        list(pages.page(pages.num_pages))
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert "DESC" not in sql and _offset(sql) == 20


def test_lists_are_paged_too() -> None:
    page = Paginator(list(range(12)), 5).get_page(3)
    assert list(page) == [10, 11]
