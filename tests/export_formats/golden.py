"""Golden files: written once from the code, read by hand, then compared byte for byte.

`UPDATE_GOLDEN=1 pytest tests/export_formats` rewrites them and fails every test that wrote one, so
a run with it set never passes: a rewrite is a format change and must be read (`git diff`) against
the layout CSVs again before it is committed, and the next run without it is the one that counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
        pytest.fail(f"{name}: golden file rewritten, review the diff", pytrace=False)
    expected = path.read_bytes()
    if data == expected:
        return
    got_lines, want_lines = data.split(b"\n"), expected.split(b"\n")
    for number, (got, want) in enumerate(zip(got_lines, want_lines, strict=False), start=1):
        if got != want:
            column = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            raise AssertionError(
                f"{name}: line {number} differs from position {column + 1}:\n"
                f"  got  {got[max(0, column - 20) : column + 40]!r}\n"
                f"  want {want[max(0, column - 20) : column + 40]!r}"
            )
    raise AssertionError(f"{name}: {len(got_lines)} lines, golden file has {len(want_lines)}")
