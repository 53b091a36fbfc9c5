"""B1: render the XL month into a Visma file and an Agresso LG04 file, from PostgreSQL, to disk.

Measured: the export's render path exactly as a run takes it: `exports.selectors` reading the month
chunk by chunk (two queries per 1 000 bases) and the format writer streaming into a file on disk
through the SHA-256 writer, fsync included. Each (format, size) renders in a fresh process, so its
peak RSS is that render's alone, and the best of two renders is kept.

Baseline (spec/benchmarks.md), measured in the same child: the read floor (the selector's own
queries, rows received as Python values and nothing built from them) plus the I/O floor (a file of
the same size through the same SHA-256 writer and fsync, nothing read). Targets: time ≤ 2× that
baseline; peak memory flat: XL/M ≤ 1.3 and XL ≤ 250 MB.

Printed under each render figure: the `COPY (SELECT …) TO STDOUT` via psycopg of the same rows and
columns the writer receives (bases with unit, payer and recipient; lines with their service
mapping), the physical limit of merely reading the data, and the render against it.

`bench/b2_validate.py` runs the validation pass through the same child process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result

MAX_RATIO = 2.0
MAX_MEMORY_RATIO = 1.3
MAX_PEAK_MB = 250.0
FORMATS = ("visma", "agresso")
REPEAT = 2
BASELINE_REPEAT = 3
ROOT = Path(__file__).resolve().parent.parent


# --- the parent: data, baseline, one child per measurement ------------------------------------


def prepare(args: argparse.Namespace, sizes: tuple[str, ...]) -> dict[str, Any]:
    """The months in the bench database, and Demo kommune's export profile for the options."""
    from bench.db import load_month, require_postgres
    from exports.demo import seed_demo

    require_postgres("B1/B2")
    months = {size: load_month(size, args.seed) for size in sizes}
    seed_demo(next(iter(months.values())).municipality)
    return months


def _baseline_queries(municipality_id: int, period: str) -> list[Any]:
    from exports.selectors import _BASIS_COLUMNS, _LINE_COLUMNS, _LINE_JSON
    from invoices.models import InvoiceBasis, InvoiceLine

    bases = InvoiceBasis.objects.filter(municipality_id=municipality_id, period=period)
    service_columns = (
        "service__code",
        "service__visma_oppdragsgiver",
        "service__visma_vare",
        "service__agresso_article",
        "service__vat_code",
        "service__default_dimensions",
    )
    return [
        bases.order_by("pk").values_list(*_BASIS_COLUMNS),
        InvoiceLine.objects.filter(basis__in=bases.values("pk"))
        .annotate(**_LINE_JSON)
        .order_by("basis_id", "line_no")
        .values_list(*_LINE_COLUMNS, *service_columns),
    ]


def copy_baseline(month: Any) -> dict[str, float]:
    """Seconds to COPY the month's rows out of PostgreSQL (best of a few), and the bytes read."""
    import psycopg
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    statements = []
    for qs in _baseline_queries(month.municipality.pk, month.period):
        sql, params = qs.query.sql_with_params()
        statements.append(psycopg.ClientCursor(raw).mogrify(sql, params))
    best, size = float("inf"), 0
    for _ in range(BASELINE_REPEAT):
        started = time.perf_counter()
        size = 0
        with raw.cursor() as cursor:
            for statement in statements:
                with cursor.copy(f"COPY ({statement}) TO STDOUT") as copy:  # type: ignore[arg-type]
                    for block in copy:
                        size += len(block)
        best = min(best, time.perf_counter() - started)
    return {"seconds": best, "bytes": size}


def measure(mode: str, fmt: str, month: Any) -> dict[str, Any]:
    """Run one render/validation of `month` in a fresh process; its JSON report."""
    from bench.db import subprocess_env

    command = [
        sys.executable,
        "-m",
        "bench.b1_render",
        "--child",
        mode,
        "--format",
        fmt,
        "--municipality-id",
        str(month.municipality.pk),
        "--period",
        month.period,
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} {fmt} {month.size} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(args: argparse.Namespace) -> list[Result]:
    from bench.db import largest_size

    big_size = largest_size(args)
    small_size = "M" if big_size != "M" else "S"
    months = prepare(args, (small_size, big_size))
    small, big = months[small_size], months[big_size]
    baseline = copy_baseline(big)

    results = []
    for fmt in FORMATS:
        xl = measure("render", fmt, big)
        m = measure("render", fmt, small)
        whole = measure("export", fmt, big)
        floors = xl["read_floor_seconds"] + xl["io_floor_seconds"]
        ratio = xl["seconds"] / floors
        copy_ratio = xl["seconds"] / baseline["seconds"]
        common = {
            "sizes": [small_size, big_size],
            "bases": xl["count"],
            "file_bytes": xl["bytes"],
            "records": xl["records"],
            "copy_bytes": baseline["bytes"],
            "copy_s": baseline["seconds"],
            "copy_ratio": round(copy_ratio, 2),
            "runs_s": xl["runs"],
            "cpu_s": xl["cpu_seconds"],
            "io_floor_s": xl["io_floor_seconds"],
            "io_floor_ratio": round(xl["io_floor_seconds"] / baseline["seconds"], 2),
            "read_floor_s": xl["read_floor_seconds"],
            "read_floor_ratio": round(xl["read_floor_seconds"] / baseline["seconds"], 2),
            f"{small_size}_seconds": m["seconds"],
            "export_run": whole,
        }
        results.append(
            Result(
                id=f"B1-{fmt}",
                value=xl["seconds"],
                baseline=floors,
                ratio=ratio,
                target=f"<= {MAX_RATIO}x",
                passed=ratio <= MAX_RATIO,
                unit="s",
                extra=common,
                note=(
                    f"baseline: reading the rows as Python values (the selector's queries, "
                    f"nothing built) {xl['read_floor_seconds']:.3f} s + storing the "
                    f"{xl['bytes'] / 1e6:.0f} MB file alone (SHA-256, fsync) "
                    f"{xl['io_floor_seconds']:.3f} s; COPY of the same rows "
                    f"{baseline['seconds']:.3f} s, the render {copy_ratio:.2f}x that"
                ),
            )
        )
        memory_ratio = xl["peak_rss_mb"] / m["peak_rss_mb"]
        results.append(
            Result(
                id=f"B1-{fmt}-mem",
                value=xl["peak_rss_mb"],
                baseline=m["peak_rss_mb"],
                ratio=memory_ratio,
                target=f"<= {MAX_MEMORY_RATIO}x,{MAX_PEAK_MB:.0f}MB",
                passed=memory_ratio <= MAX_MEMORY_RATIO and xl["peak_rss_mb"] <= MAX_PEAK_MB,
                unit="MB",
                extra={"sizes": [small_size, big_size], "baseline_is": f"{small_size} peak"},
            )
        )
    return results


# --- the child: one measurement in a clean process -----------------------------------------------


def _own_peak_mb() -> float:
    """This process's own peak resident memory. Not `ru_maxrss`: Linux carries that across
    fork and exec, so a child started by a parent holding the loaded month would report the
    parent's peak. `VmHWM` belongs to the process's own address space."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    from bench.common import peak_rss_mb

    return peak_rss_mb()


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=["render", "validate", "export"], required=True)
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--municipality-id", type=int, required=True)
    parser.add_argument("--period", required=True)
    opts = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aidn_billing.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False

    from exports.files import HashingWriter, agresso_options, visma_options
    from exports.formats import agresso_lg04, visma_file
    from exports.models import ExportProfile
    from exports.prefilter import validate_selection
    from exports.selectors import Selection, iter_bases, iter_rows
    from invoices.models import BasisStatus, Municipality
    from invoices.services import accounting_settings_get

    municipality = Municipality.objects.get(pk=opts.municipality_id)
    if opts.child == "export":
        print(json.dumps(_whole_export(municipality, opts.period, opts.format)))
        return
    profile = ExportProfile.objects.get(municipality=municipality)
    # The generated month is as intake stored it (received); the render path ignores status.
    selection = Selection(
        municipality=municipality, period=opts.period, statuses=tuple(BasisStatus.values)
    )
    if opts.format == "visma":
        options: Any = visma_options(
            profile,
            accounting_settings_get(profile.municipality),
            layout="extended",
            reference_text="B1",
        )
    else:
        options = agresso_options(profile, layout="classic", batch_id="AIDN25040101")

    report: dict[str, Any] = {"runs": [], "cpu_runs": []}
    for _ in range(REPEAT):
        started, cpu_started = time.perf_counter(), time.process_time()
        if opts.child == "validate":
            findings = validate_selection(selection, options)
            report["errors"] = sum(1 for f in findings if f.severity == "error")
            report["warnings"] = len(findings) - report["errors"]
        else:
            with tempfile.NamedTemporaryFile(prefix="b1-", suffix=".txt") as fh:
                out: Any = HashingWriter(fh)
                if opts.format == "visma":
                    summary = visma_file.write(iter_bases(selection), options, out)
                else:
                    ids = iter(range(380_000_000, 381_000_000))
                    summary = agresso_lg04.write(iter_bases(selection), options, out, ids)
                fh.flush()
                os.fsync(fh.fileno())
            report.update(count=summary.count, bytes=out.size, records=summary.records)
        report["runs"].append(round(time.perf_counter() - started, 4))
        report["cpu_runs"].append(round(time.process_time() - cpu_started, 4))
    best = report["runs"].index(min(report["runs"]))
    report["seconds"] = report["runs"][best]
    report["cpu_seconds"] = report["cpu_runs"][best]
    report["peak_rss_mb"] = _own_peak_mb()
    if opts.child == "render":
        report["io_floor_seconds"] = _io_floor(report["bytes"], HashingWriter)
        report["read_floor_seconds"] = _read_floor(lambda: iter_rows(selection))
    print(json.dumps(report))


def _io_floor(size: int, writer: Any) -> float:
    """Seconds to write `size` bytes that are already made, through the same SHA-256 writer and
    fsync as the render (best of two): what storing the file costs without reading or
    rendering anything, for a file as large as LG04's."""
    block = b" " * (1 << 20)
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        with tempfile.NamedTemporaryFile(prefix="b1-io-", suffix=".txt") as fh:
            out = writer(fh)
            left = size
            while left > 0:
                left -= out.write(block[: min(left, len(block))])
            fh.flush()
            os.fsync(fh.fileno())
        best = min(best, time.perf_counter() - started)
    return round(best, 4)


def _read_floor(rows: Any) -> float:
    """Seconds to receive the month's rows as Python values through the selector's own queries,
    chunk by chunk, with nothing built from them (best of two): the least any Python renderer
    pays before it renders a byte. `rows()` is `exports.selectors.iter_rows` of the selection."""
    best = float("inf")
    for _ in range(REPEAT):
        started = time.perf_counter()
        for _chunk in rows():
            pass
        best = min(best, time.perf_counter() - started)
    return round(best, 4)


def _whole_export(municipality: Any, period: str, fmt: str) -> dict[str, Any]:
    """The whole service run (validate, record, write, lock) over the month, rolled back after:
    what a user waits for, for context next to the render figure."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from exports.run import export_run
    from exports.services import export_create
    from invoices.demo_data import ensure_user
    from invoices.models import BasisStatus, InvoiceBasis, Role

    ensure_user("bench_b1_export", "bench-only-password", municipality, Role.MERKANTIL)
    user = get_user_model().objects.get(username="bench_b1_export")
    with tempfile.TemporaryDirectory(prefix="b1-media-") as media:
        settings.MEDIA_ROOT = media
        with transaction.atomic():
            InvoiceBasis.objects.filter(municipality=municipality, period=period).update(
                status=BasisStatus.APPROVED
            )
            export = export_create(municipality, period=period, fmt=fmt, actor=user, enqueue=False)
            started = time.perf_counter()
            export = export_run(export.pk)
            seconds = time.perf_counter() - started
            report = {
                "status": export.status,
                "seconds": round(seconds, 3),
                "count": export.count,
                "warnings": export.warning_count,
                "failure": export.failure,
                "peak_rss_mb": _own_peak_mb(),
            }
            transaction.set_rollback(True)
    return report


if __name__ == "__main__":
    _child(sys.argv[1:])
