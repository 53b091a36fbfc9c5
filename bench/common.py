"""Shared shape of every benchmark result (spec/benchmarks.md).

Each `bench/bN_*.py` module exposes `run(args: argparse.Namespace) -> list[Result]`; `bench/run.py`
runs them all, prints one line per result and writes `bench/results/latest.json`.
"""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    id: str  # "B1-visma", "B2", ...
    value: float  # the measured figure (seconds, bases/s, MB …)
    baseline: float  # the baseline measured in the same run
    ratio: float  # value / baseline (or baseline / value for throughput), as the target reads it
    target: str  # human text, e.g. "<= 2.0x"
    passed: bool
    unit: str = "s"
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # printed under the line: what the figure is bounded by, if that matters

    def line(self) -> str:
        verdict = "pass" if self.passed else "short"
        return (
            f"{self.id:<14} {self.value:>10.3f}{self.unit:<4} {self.baseline:>10.3f}{self.unit:<4}"
            f" {self.ratio:>7.2f}x  {self.target:<14} {verdict}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process itself, in MB.

    Reads VmHWM: `ru_maxrss` of a forked child starts from its parent's peak, which would hide the
    child's own figure."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
