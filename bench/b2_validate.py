"""B2: validate the XL month (every blocking check of both formats) against the COPY baseline.

Measured, in a fresh process per format like B1: `exports.prefilter.validate_selection`, the
validation an export runs before it writes (every blocking check and warning of the format: ids,
mapping, widths, amounts, running numbers, required dimensions). On PostgreSQL one query finds
the bases that can have a finding and only those are read into the format checks. Baseline: the
same `COPY (SELECT …) TO STDOUT` as B1. Target (spec/benchmarks.md): ≤ 2× baseline.
"""

from __future__ import annotations

import argparse

from bench.b1_render import FORMATS, MAX_RATIO, copy_baseline, measure, prepare
from bench.common import Result


def run(args: argparse.Namespace) -> list[Result]:
    from bench.db import largest_size

    size = largest_size(args)
    month = prepare(args, (size,))[size]
    baseline = copy_baseline(month)
    results = []
    for fmt in FORMATS:
        report = measure("validate", fmt, month)
        ratio = report["seconds"] / baseline["seconds"]
        results.append(
            Result(
                id=f"B2-{fmt}",
                value=report["seconds"],
                baseline=baseline["seconds"],
                ratio=ratio,
                target=f"<= {MAX_RATIO}x",
                passed=ratio <= MAX_RATIO,
                unit="s",
                extra={
                    "size": size,
                    "errors": report["errors"],
                    "warnings": report["warnings"],
                    "runs_s": report["runs"],
                    "cpu_s": report["cpu_seconds"],
                    "peak_rss_mb": report["peak_rss_mb"],
                },
            )
        )
    return results
