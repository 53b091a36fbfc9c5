"""Charts for people, drawn on the server as SVG: no JavaScript, readable in print, and always
shown beside a table with the same numbers (for screen readers and for checking).

Only geometry is computed here; the templates in templates/invoices/charts/ draw it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from .templatetags.money import money


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    text: str  # the value as people read it
    x: float
    y: float
    width: float
    height: float
    highlight: bool = False
    note: str = ""
    short: str = ""  # the label under a column


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    axis: float  # x of the zero line (horizontal chart) or y of it (column chart)
    label_right: int = 0  # where the labels of a horizontal chart end


# Month abbreviations under the trend's columns; the year is shown under January only.
MONTHS = (
    _("jan"),
    _("feb"),
    _("mar"),
    _("apr"),
    _("mai"),
    _("jun"),
    _("jul"),
    _("aug"),
    _("sep"),
    _("okt"),
    _("nov"),
    _("des"),
)


def short_month(period: str) -> str:
    """'2026-01' → 'jan 26', '2026-10' → 'okt'."""
    if len(period) != 7:
        return period
    name = str(MONTHS[int(period[5:7]) - 1])
    return f"{name} {period[2:4]}" if period.endswith("-01") else name


ROW = 26
LABEL_WIDTH = 200  # room for 26 characters at 12 px; longer labels are cut with an ellipsis
VALUE_WIDTH = 110


def horizontal(items: Sequence[tuple[str, int]], *, width: int = 560) -> Chart:
    """One bar per item (øre), largest first as given; negative values draw left of zero."""
    area = width - LABEL_WIDTH - VALUE_WIDTH
    top = max([0, *(v for _l, v in items)])
    bottom = min([0, *(v for _l, v in items)])
    span = (top - bottom) or 1
    zero = LABEL_WIDTH + area * (-bottom / span)
    bars = []
    for i, (label, value) in enumerate(items):
        length = area * abs(value) / span
        x = zero if value >= 0 else zero - length
        bars.append(
            Bar(
                label=label,
                value=value,
                text=money(value),
                x=round(x, 1),
                y=i * ROW + 4,
                width=round(max(length, 1 if value else 0), 1),
                height=ROW - 8,
            )
        )
    return Chart(
        width=width,
        height=max(ROW, len(items) * ROW),
        bars=bars,
        axis=round(zero, 1),
        label_right=LABEL_WIDTH - 5,
    )


def columns(
    items: Sequence[tuple[str, int, str]],
    *,
    current: str = "",
    width: int = 640,
    height: int = 200,
) -> Chart:
    """One column per (label, value øre, note) — a month of the trend; `current` is highlighted.
    The note (e.g. the month's count) is written above the column."""
    top_pad, label_pad = 22, 34
    area = height - top_pad - label_pad
    top = max([0, *(v for _l, v, _n in items)]) or 1
    step = width / max(1, len(items))
    bars = []
    for i, (label, value, note) in enumerate(items):
        h = area * max(0, value) / top
        bars.append(
            Bar(
                label=label,
                value=value,
                text=money(value),
                x=round(i * step + step * 0.15, 1),
                y=round(top_pad + area - h, 1),
                width=round(step * 0.7, 1),
                height=round(h, 1),
                highlight=label == current,
                note=note,
                short=short_month(label),
            )
        )
    return Chart(width=width, height=height, bars=bars, axis=top_pad + area)
