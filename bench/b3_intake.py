"""B3: intake of the XL month through the chunked JSON import, against a COPY FROM of the same rows.

Measured: `manage.py import_invoice_bases` on the month's intake file, in a fresh process like B1
and B2 (the time inside the command; start-up is reported separately), as a first delivery into a
municipality of its own (B3 kommune, 9990, with Demo kommune's catalogue), so every party, basis and
line is new. It streams the file, validates every basis, and stores it in chunks of 5 000. Then the
same file again: it must store nothing new.

Baseline: the rows that import wrote (parties, bases, lines of B3 kommune), taken out with
`COPY … TO STDOUT`, deleted, and written back with psycopg's `COPY … FROM STDIN` in one
transaction: the cost of merely loading the same rows into the same tables, with the same indexes
and constraints. Best of two.

Also reported: the peak memory of the importing process, and its wall time with start-up.

Target (spec/benchmarks.md): ≤ 4× baseline, and the second run stores nothing new.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result

ROOT = Path(__file__).resolve().parent.parent
MAX_RATIO = 4.0
NUMBER = "9990"
PERIOD = "2025-09"
TABLES = ("invoices_party", "invoices_invoicebasis", "invoices_invoiceline")


def _municipality() -> Any:
    """B3 kommune: Demo kommune's units, dimensions and services, and none of its parties."""
    from invoices.demo_data import setup_demo_municipality
    from invoices.models import DimensionDefinition, Municipality, Service

    demo = setup_demo_municipality()
    m, _created = Municipality.objects.get_or_create(number=NUMBER, defaults={"name": "B3 kommune"})
    for d in DimensionDefinition.objects.filter(municipality=demo):
        DimensionDefinition.objects.get_or_create(
            municipality=m, key=d.key, defaults={"name": d.name, "position": d.position}
        )
    fields = [f.name for f in Service._meta.concrete_fields if f.name not in {"id", "municipality"}]
    for s in Service.objects.filter(municipality=demo):
        Service.objects.get_or_create(
            municipality=m, code=s.code, defaults={f: getattr(s, f) for f in fields}
        )
    return m


def _clear(m: Any) -> None:
    """Remove B3 kommune's parties, bases, lines and their audit links (deferred FKs: one
    transaction)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        # Statistics of what is there now: planned on the empty tables' statistics, deleting
        # 100 000 lines picks a nested loop that runs for many minutes.
        cursor.execute("ANALYZE invoices_party, invoices_invoicebasis, invoices_invoiceline")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM invoices_invoiceline l USING invoices_invoicebasis b "
            "WHERE b.id = l.basis_id AND b.municipality_id = %s",
            [m.pk],
        )
        # The audit trail's links to the bases (the events themselves stay).
        cursor.execute(
            "DELETE FROM invoices_auditedbasis a USING invoices_invoicebasis b "
            "WHERE b.id = a.basis_id AND b.municipality_id = %s",
            [m.pk],
        )
        cursor.execute("DELETE FROM invoices_invoicebasis WHERE municipality_id = %s", [m.pk])
        cursor.execute("DELETE FROM invoices_party WHERE municipality_id = %s", [m.pk])


def _select(table: str, m: Any) -> str:
    if table == "invoices_invoiceline":
        return (
            "SELECT l.* FROM invoices_invoiceline l JOIN invoices_invoicebasis b "
            f"ON b.id = l.basis_id WHERE b.municipality_id = {int(m.pk)}"
        )
    return f"SELECT * FROM {table} WHERE municipality_id = {int(m.pk)}"


def _snapshot(m: Any) -> tuple[int, int, str]:
    from django.db.models import Max

    from invoices.models import InvoiceBasis, InvoiceLine

    bases = InvoiceBasis.objects.filter(municipality=m)
    latest = bases.aggregate(latest=Max("updated_at"))["latest"]
    lines = InvoiceLine.objects.filter(basis__municipality=m).count()
    return bases.count(), lines, str(latest)


def copy_baseline(m: Any, runs: int = 2) -> dict[str, Any]:
    from django.db import connection, transaction

    data: dict[str, bytes] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            buffer = bytearray()
            with cursor.cursor.copy(f"COPY ({_select(table, m)}) TO STDOUT") as copy:
                for chunk in copy:
                    buffer += chunk
            data[table] = bytes(buffer)
    times = []
    for _ in range(runs):
        _clear(m)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for table in TABLES:
                with cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(data[table])
        times.append(time.perf_counter() - started)  # commit included: deferred FK checks
    return {"seconds": min(times), "runs_s": times, "bytes": sum(map(len, data.values()))}


def _import(path: Path) -> dict[str, Any]:
    """One `import_invoice_bases` run in a fresh process: its time, peak RSS and summary line."""
    from bench.db import subprocess_env

    child = (
        "import django, io, json, os, resource, sys, time\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aidn_billing.settings')\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "settings.DEBUG = False\n"
        "from django.core.management import call_command\n"
        "out = io.StringIO()\n"
        "t = time.perf_counter()\n"
        "call_command('import_invoice_bases', sys.argv[1], stdout=out)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t,\n"
        "  'summary': out.getvalue().strip().splitlines()[-1],\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", child, str(path)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"import_invoice_bases failed:\n{done.stderr[-3000:]}")
    report = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    report["process_seconds"] = wall  # with interpreter and Django start-up
    return report


def run(args: argparse.Namespace) -> list[Result]:
    from bench.db import largest_size, require_postgres
    from invoices.demo_data import SIZES, write_document

    require_postgres("B3 (its baseline is PostgreSQL's COPY FROM)")
    size = largest_size(args)
    m = _municipality()
    _clear(m)
    with tempfile.TemporaryDirectory(prefix="bench-b3-") as tmp:
        path = Path(tmp) / f"{size}-{args.seed}-{PERIOD}.json"
        write_document(path, size, seed=args.seed, period=PERIOD, municipality=NUMBER)

        first_run = _import(path)
        first = _snapshot(m)
        if first[:2] != (SIZES[size].bases, SIZES[size].lines):
            raise RuntimeError(f"import stored {first[:2]}, expected {SIZES[size]}")
        rerun = _import(path)
        nothing_new = _snapshot(m) == first and " 0 nye, 0 endret" in rerun["summary"]
        baseline = copy_baseline(m)
        file_mb = path.stat().st_size / 1e6

    seconds, rerun_seconds = first_run["seconds"], rerun["seconds"]
    ratio = seconds / baseline["seconds"]
    common = {
        "size": size,
        "bases": first[0],
        "lines": first[1],
        "file_mb": round(file_mb, 1),
        "copy_bytes": baseline["bytes"],
        "copy_runs_s": baseline["runs_s"],
    }
    return [
        Result(
            id="B3",
            value=seconds,
            baseline=baseline["seconds"],
            ratio=ratio,
            target=f"<= {MAX_RATIO}x",
            passed=ratio <= MAX_RATIO and nothing_new,
            unit="s",
            extra={
                **common,
                "summary": first_run["summary"],
                "peak_rss_mb": first_run["peak_rss_mb"],
                "process_seconds": first_run["process_seconds"],
                "bases_per_second": first[0] / seconds,
            },
        ),
        Result(
            id="B3-rerun",
            value=rerun_seconds,
            baseline=baseline["seconds"],
            ratio=rerun_seconds / baseline["seconds"],
            target="stores nothing",
            passed=nothing_new,
            unit="s",
            extra={
                **common,
                "summary": rerun["summary"],
                "peak_rss_mb": rerun["peak_rss_mb"],
            },
        ),
    ]
