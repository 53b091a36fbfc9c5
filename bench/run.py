"""Run the benchmarks: `python -m bench.run [--only B1,B5] [--sizes S,M] [--keep-db]`.

Imports every `bench/b<N>_*.py`, calls its `run(args)` inside one benchmark database (bench/db.py),
prints one line per result and writes `bench/results/latest.json`. Speed never fails the run: the
exit status is 1 only when a benchmark crashed. A benchmark whose service is missing (PostgreSQL,
Redis) is reported as skipped, with what to set.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "latest.json"
HEADER = f"{'id':<14} {'value':>14} {'baseline':>14} {'ratio':>8}  {'target':<14} pass/short"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--only", default="", help="comma-separated benchmark ids, e.g. B1,B5 (default: all)"
    )
    parser.add_argument(
        "--sizes",
        default="S,M,L,XL",
        help="sizes a benchmark may use; the largest stands in for XL (default: S,M,L,XL)",
    )
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="reuse the benchmark database and its months, and keep it afterwards",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    args.only = {part.strip().upper() for part in args.only.split(",") if part.strip()}
    args.sizes = [part.strip().upper() for part in args.sizes.split(",") if part.strip()]
    return args


def discover() -> list[tuple[str, str]]:
    """(id, module name) of every bench/b<N>_*.py, in numeric order: ("B5", "bench.b5_list")."""
    found = []
    for path in BENCH_DIR.glob("b*_*.py"):
        match = re.fullmatch(r"b(\d+)_\w+", path.stem)
        if match:
            found.append((int(match.group(1)), f"B{match.group(1)}", f"bench.{path.stem}"))
    return [(bench_id, module) for _, bench_id, module in sorted(found)]


def selected(bench_id: str, only: set[str]) -> bool:
    # "B4" also selects B4b, whose results come from the same module.
    return not only or any(re.fullmatch(rf"{bench_id}[A-Z]?", wanted) for wanted in only)


def setup_django() -> None:
    sys.path.insert(0, str(BENCH_DIR.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aidn_billing.settings")
    import django

    django.setup()


def environment() -> dict[str, Any]:
    from django.db import connections

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "database": connections["default"].vendor,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "commit": commit,
    }


def run_one(module_name: str, args: argparse.Namespace, report: dict[str, Any]) -> None:
    from bench.db import Unavailable

    try:
        module: ModuleType = importlib.import_module(module_name)
        results = module.run(args)
    except Unavailable as exc:
        print(f"{module_name}: skipped: {exc}", flush=True)
        report["skipped"].append({"module": module_name, "reason": str(exc)})
        return
    except Exception as exc:
        traceback.print_exc()
        print(f"{module_name}: crashed: {exc!r}", flush=True)
        report["crashed"].append({"module": module_name, "error": repr(exc)})
        return
    for result in results:
        print(result.line(), flush=True)
        if result.note:
            print(f"    {result.note}", flush=True)
        report["results"].append(result.as_dict())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_django()
    from django.conf import settings
    from django.db import DatabaseError

    from bench.db import Unavailable, bench_database
    from invoices.demo_data import SIZES

    if settings.DJANGO_ENV == "production":
        print("Benchmarks do not run with DJANGO_ENV=production.", file=sys.stderr)
        return 2
    # Measure what production runs: no debug query log (it also slows bulk loads and holds memory).
    settings.DEBUG = False
    unknown = [s for s in args.sizes if s not in SIZES]
    if unknown or not args.sizes:
        print(f"--sizes takes {', '.join(SIZES)}, not {', '.join(unknown)}", file=sys.stderr)
        return 2
    benches = [(b, m) for b, m in discover() if selected(b, args.only)]
    if not benches:
        print(f"No benchmark matches --only {','.join(sorted(args.only))}.", file=sys.stderr)
        return 2

    report: dict[str, Any] = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "sizes": args.sizes,
        "seed": args.seed,
        "results": [],
        "skipped": [],
        "crashed": [],
    }
    try:
        with bench_database(keep=args.keep_db) as name:
            print(f"benchmark database: {name} ({report['environment']['database']})")
            print(HEADER, flush=True)
            for _bench_id, module_name in benches:
                run_one(module_name, args, report)
    except (DatabaseError, Unavailable) as exc:
        print(
            f"Cannot set up the benchmark database: {exc}\n"
            "PostgreSQL: DATABASE_URL=postgres://user:pw@127.0.0.1:5432/db with a role that may "
            "create databases; the runner creates and drops bench_<db>.",
            file=sys.stderr,
        )
        return 1
    report["finished_at"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {args.output}")
    return 1 if report["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
