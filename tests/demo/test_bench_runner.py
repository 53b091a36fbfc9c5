"""The benchmark runner: discovery, selection, skip/crash reporting, and one real run of B5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from bench import run as runner
from bench.common import Result
from bench.db import Unavailable, largest_size

ROOT = Path(__file__).resolve().parents[2]


def test_discovers_benchmarks_in_numeric_order() -> None:
    found = runner.discover()
    assert ("B5", "bench.b5_list") in found
    numbers = [int(bench_id[1:]) for bench_id, _ in found]
    assert numbers == sorted(numbers)


@pytest.mark.parametrize(
    ("bench_id", "only", "expected"),
    [("B5", set(), True), ("B5", {"B5"}, True), ("B4", {"B4B"}, True), ("B1", {"B5"}, False),
     ("B1", {"B10"}, False)],
)  # fmt: skip
def test_only_selects_by_id(bench_id: str, only: set[str], expected: bool) -> None:
    assert runner.selected(bench_id, only) is expected


def test_arguments_and_the_size_that_stands_in_for_xl() -> None:
    args = runner.parse_args(["--only", "b1, B5", "--sizes", "s,m"])
    assert args.only == {"B1", "B5"}
    assert args.sizes == ["S", "M"]
    assert largest_size(args) == "M"
    assert largest_size(runner.parse_args([])) == "XL"


def _report() -> dict[str, list[Any]]:
    return {"results": [], "skipped": [], "crashed": []}


def test_a_missing_service_is_a_skip_and_an_exception_a_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unavailable(args: Any) -> list[Result]:
        raise Unavailable("B9 needs Redis: set REDIS_URL")

    def broken(args: Any) -> list[Result]:
        raise ZeroDivisionError("oops")

    def fine(args: Any) -> list[Result]:
        return [
            Result("B9", 2.0, 1.0, 2.0, "<= 2x", True),
            Result("B9-slow", 3.5, 1.0, 3.5, "<= 2x", False, note="bounded by the disk"),
        ]

    report = _report()
    for name, fn in (("b9_skip", unavailable), ("b9_crash", broken), ("b9_fine", fine)):
        module = types.ModuleType(name)
        module.run = fn  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, name, module)
        runner.run_one(name, runner.parse_args([]), report)

    assert report["skipped"] == [{"module": "b9_skip", "reason": "B9 needs Redis: set REDIS_URL"}]
    assert [c["module"] for c in report["crashed"]] == ["b9_crash"]
    assert [(r["id"], r["passed"]) for r in report["results"]] == [("B9", True), ("B9-slow", False)]
    # What the runner itself prints, line by line: the verdicts come from the results' own flags.
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "b9_skip: skipped: B9 needs Redis: set REDIS_URL"
    assert out[1] == "b9_crash: crashed: ZeroDivisionError('oops')"
    assert out[2].split() == ["B9", "2.000s", "1.000s", "2.00x", "<=", "2x", "pass"]
    assert out[3].split() == ["B9-slow", "3.500s", "1.000s", "3.50x", "<=", "2x", "short"]
    assert out[4:] == ["    bounded by the disk"]


@pytest.mark.django_db
def test_runner_runs_b5_in_its_own_database_and_drops_it(tmp_path: Path) -> None:
    if connection.vendor == "postgresql":
        name = f"bench_pytest_{os.getpid()}"
    else:
        name = str(tmp_path / "bench.sqlite3")
    output = tmp_path / "latest.json"
    env = {**os.environ, "BENCH_DATABASE_NAME": name, "DJANGO_ENV": "development"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--only", "B5", "--sizes", "S", "--output", output],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(output.read_text(encoding="utf-8"))
    ids = [r["id"] for r in report["results"]]
    results = dict(zip(ids, report["results"], strict=True))
    # B5o (the overview with 12 months of history) makes its history in PostgreSQL only.
    overview = ["B5o-queries", "B5o"] if connection.vendor == "postgresql" else []
    assert ids == ["B5-queries", "B5-first", "B5-last", *overview]
    queries = results["B5-queries"]
    assert 0 < queries["value"] == queries["baseline"]  # S against S: the same page, same queries
    if overview:
        # The S month with 12 months of history against the S month alone: the same queries.
        queries = results["B5o-queries"]
        assert 0 < queries["value"] == queries["baseline"]
        assert queries["extra"]["history"]["months_made"]
    assert not report["crashed"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            assert cursor.fetchone() is None
    else:
        assert not Path(name).exists()
