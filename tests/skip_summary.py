"""One line at the end of a run that says how many tests were skipped and why, grouped by the
service they wanted, so a run without PostgreSQL, Redis or Chromium cannot pass for a full one.

Loaded by tests/conftest.py. When PYTEST_SKIP_SUMMARY names a file, the line is also written there,
for `./dev.py test` to print as its last line.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

# (text in the skip reason, what the group is called): first match wins.
GROUPS = [
    ("needs PostgreSQL", "PostgreSQL (set DATABASE_URL)"),
    ("needs Redis", "Redis (set REDIS_URL)"),
    ("needs Chromium", "Chromium (set CHROMIUM_PATH)"),
    ("spec folder", "the spec folder beside the project"),
]


def group_of(reason: str) -> str:
    for needle, group in GROUPS:
        if needle in reason:
            return f"need {group}"
    reason = reason.removeprefix("Skipped: ").strip()
    return f"skipped: {reason}" if reason else "skipped without a reason"


def summarize(reasons: list[str]) -> str:
    if not reasons:
        return "No tests skipped."
    counts = Counter(group_of(r) for r in reasons)
    parts = []
    for group, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if n == 1 and group.startswith("need "):
            group = "needs " + group.removeprefix("need ")
        parts.append(f"{n} {group}")
    total = len(reasons)
    noun = "test" if total == 1 else "tests"
    return f"Skipped {total} {noun}: {', '.join(parts)} — this run is not complete."


def _reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if not hasattr(r, "wasxfail")]
    line = summarize([_reason(r) for r in skipped])
    terminalreporter.write_sep("-", "skipped tests")
    terminalreporter.write_line(line)
    target = os.environ.get("PYTEST_SKIP_SUMMARY")
    if target:
        Path(target).write_text(line + "\n", encoding="utf-8")
