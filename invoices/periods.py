"""Billing periods (`YYYY-MM`): parsing and month arithmetic, one place for both."""

from __future__ import annotations

import datetime
import re

PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def is_period(value: object) -> bool:
    return isinstance(value, str) and PERIOD.fullmatch(value) is not None


def shift(period: str, months: int) -> str:
    """The period `months` later (earlier when negative): shift("2026-01", -1) == "2025-12"."""
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def last(period: str, n: int) -> list[str]:
    """The `n` periods ending with `period`, oldest first."""
    return [shift(period, k) for k in range(-(n - 1), 1)]


def first_day(period: str) -> datetime.date:
    return datetime.date(int(period[:4]), int(period[5:7]), 1)
