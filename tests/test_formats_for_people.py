"""One way of writing amounts, quantities, sizes and dates on every page (issue: "kr 723 806,85"
beside "723 806,85 kr", "-2,50" beside "−497,50", "687269 byte", two date formats)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import translation

from invoices.templatetags.money import filesize, money, quantity

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("ore", "shown"),
    [
        (0, "0,00 kr"),
        (5, "0,05 kr"),
        (123456, "1 234,56 kr"),
        (-250, "−2,50 kr"),
        (None, "0,00 kr"),
    ],
)
def test_money(ore: int | None, shown: str) -> None:
    assert money(ore) == shown.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("4"), "4,00"), (Decimal("-2.5"), "−2,50"), (Decimal("1234.5"), "1 234,50")],
)
def test_quantity_has_the_same_minus_as_money(value: Decimal, shown: str) -> None:
    assert quantity(value) == shown.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("size", "shown"), [(512, "512 B"), (687269, "687 kB"), (353_000_000, "353,0 MB")]
)
def test_file_sizes(size: int, shown: str) -> None:
    assert filesize(size) == shown.replace(" ", NBSP)


@pytest.mark.parametrize("language", ["nb", "en"])
def test_dates_are_written_one_way_in_both_languages(language: str) -> None:
    moment = datetime.datetime(2026, 12, 6, 13, 5, tzinfo=ZoneInfo("Europe/Oslo"))
    with translation.override(language):
        text = Template("{{ d }}|{{ t }}").render(Context({"d": moment.date(), "t": moment}))
    assert text == "06.12.2026|06.12.2026 13:05"
