"""The closing line of a run: how many tests were skipped, grouped by what they needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.skip_summary import summarize

ROOT = Path(__file__).resolve().parents[1]


def test_no_skips() -> None:
    assert summarize([]) == "No tests skipped."


def test_groups_by_service_most_first() -> None:
    reasons = [
        "Skipped: needs Redis: set REDIS_URL to a running server",
        "Skipped: needs PostgreSQL: set DATABASE_URL",
        "Skipped: needs PostgreSQL: set DATABASE_URL",
        "Skipped: needs Chromium: apt-get install chromium",
        "Skipped: spec folder not beside the project",
        "Skipped: needs PostgreSQL: set DATABASE_URL",
    ]
    assert summarize(reasons) == (
        "Skipped 6 tests: 3 need PostgreSQL (set DATABASE_URL), 1 needs Chromium (set"
        " CHROMIUM_PATH), 1 needs Redis (set REDIS_URL), 1 needs the spec folder beside the"
        " project — this run is not complete."
    )


def test_other_reasons_are_named_as_they_are() -> None:
    assert summarize(["Skipped: flaky on Tuesdays"]) == (
        "Skipped 1 test: 1 skipped: flaky on Tuesdays — this run is not complete."
    )


SAMPLE = """
import pytest

def test_runs():
    assert True

def test_wants_postgres():
    pytest.skip("needs PostgreSQL: set DATABASE_URL")

@pytest.mark.parametrize("n", [1, 2])
def test_wants_redis(n):
    pytest.skip("needs Redis: set REDIS_URL to a running server")

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False
"""


def test_a_run_ends_with_the_line_and_writes_it_for_dev_py(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    target = tmp_path / "skips.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_SKIP_SUMMARY": str(target)}
    env.pop("REQUIRE_ALL_SERVICES", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.skip_summary", "-p", "no:django",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    expected = (
        "Skipped 3 tests: 2 need Redis (set REDIS_URL), 1 needs PostgreSQL (set DATABASE_URL)"
        " — this run is not complete."
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert expected in done.stdout.splitlines()
    assert target.read_text(encoding="utf-8") == expected + "\n"
