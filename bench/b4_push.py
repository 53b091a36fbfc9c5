"""B4 / B4b: pushing invoice bases to the Visma simulator through Celery workers on Redis.

B4: 2 000 bases, simulator without added latency. Baseline: the very same SOAP request bodies,
built beforehand, posted one after another on a plain `requests.Session` to the same simulator.
Target: the product's throughput ≥ 50 % of the baseline's.

B4b: 20 000 bases, simulator adding 200 ms to every call. Baseline: the floor
`calls × 0.2 s / concurrency` (concurrency = parallel calls = worker processes). Target ≤ 1.2×.

The product run is the real path: `transfer_start` (locks the bases, writes the outbox), Celery
workers in their own processes on Redis claiming batches of 200, the SOAP client, the simulator
over HTTP on loopback, results recorded per basis. Time runs from the start call until the
transfer is done. The workers use a Redis database of their own (BENCH_REDIS_DB, default 14) so
no other worker on the same server can pick up the benchmark's tasks. The bases' statuses are put
back afterwards, so the other benchmarks see the month as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from bench.common import Result
from bench.db import (
    bench_user,
    largest_size,
    load_month,
    require_postgres,
    require_redis,
    subprocess_env,
)
from integrations import selectors, services, wakeup
from integrations.models import BasisVismaStatus, Transfer, TransferAttempt
from integrations.visma.client import SERVICE_PATH, build_send_envelope, soap_action
from integrations.visma.mapping import context_for, load
from integrations.visma.types import SoapBasis
from integrations.visma_simulator import Faults, SimulatorHandle, start_simulator
from invoices.models import BasisStatus, InvoiceBasis, Municipality, Role

ROOT = Path(__file__).resolve().parent.parent
B4_BASES = 2_000
B4B_BASES = 20_000
B4B_LATENCY_MS = 200
BATCH = 200
SELSKAP = "1"
USERNAME = "demo"
PASSWORD = "demo-visma-2026"  # the simulator's demo credentials


def run(args: argparse.Namespace) -> list[Result]:
    require_postgres("B4")
    broker = bench_broker(require_redis("B4"))
    concurrency = int(os.environ.get("BENCH_VISMA_CONCURRENCY", "4"))
    month = load_month(largest_size(args), args.seed)
    municipality = month.municipality
    ids = list(
        InvoiceBasis.objects.filter(municipality=municipality, period=month.period)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    ids = mappable(municipality, ids)
    saved = dict(InvoiceBasis.objects.filter(pk__in=ids).values_list("pk", "status"))
    log = Path(tempfile.gettempdir()) / "bench-b4-celery.log"
    results: list[Result] = []
    try:
        with push_rig(municipality, broker, concurrency, log) as simulator:
            reset_to_approved(municipality, ids[:B4B_BASES])
            warm_up(municipality, ids[:BATCH], concurrency)
            b4 = _b4(municipality, ids[:B4_BASES], simulator)
            results.append(b4)
            # The simulator's own work per call (the baseline's time per call): on a small machine
            # it, not the 200 ms, may be what bounds B4b.
            per_call = b4.extra["baseline_seconds"] / b4.extra["calls"]
            whole_month = len(ids) == month.bases and len(ids) <= B4B_BASES
            results.append(
                _b4b(
                    municipality,
                    ids[:B4B_BASES],
                    simulator,
                    concurrency,
                    period=month.period if whole_month else None,
                    simulator_per_call=per_call,
                )
            )
    finally:
        restore_statuses(municipality, saved)
    for r in results:
        r.extra.update({"size": month.size, "concurrency": concurrency, "worker_log": str(log)})
    return results


# --- B4 -------------------------------------------------------------------------------------------


def _b4(municipality: Municipality, ids: list[int], simulator: Any) -> Result:
    n = len(ids)
    bodies = _bodies(municipality, ids)
    simulator.set_faults(Faults())

    simulator.reset()
    session = requests.Session()
    session.auth = (USERNAME, PASSWORD)
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": soap_action("SendFakturagrunnlag"),
    }
    endpoint = simulator.url + SERVICE_PATH
    started = time.perf_counter()
    for body in bodies:
        response = session.post(endpoint, data=body, headers=headers, timeout=60)
        response.raise_for_status()
    baseline_s = time.perf_counter() - started
    session.close()
    baseline_stored = simulator.stats(per_referanse=False)["stored_total"]

    simulator.reset()
    product_s, counts, start_s = _push(municipality, ids)
    stats = simulator.stats(per_referanse=False)
    value, baseline = n / product_s, n / baseline_s
    ratio = value / baseline
    return Result(
        id="B4",
        value=value,
        baseline=baseline,
        ratio=ratio,
        target=">= 0.50x",
        passed=ratio >= 0.5,
        unit="b/s",
        extra={
            "bases": n,
            "calls": math.ceil(n / BATCH),
            "product_seconds": product_s,
            "baseline_seconds": baseline_s,
            "outcomes": counts,
            "start_seconds": start_s,
            "stored": stats["stored_total"],
            "baseline_stored": baseline_stored,
            "stored_more_than_once": len(stats["stored_more_than_once"]),
        },
    )


# --- B4b ------------------------------------------------------------------------------------------


def _b4b(
    municipality: Municipality,
    ids: list[int],
    simulator: Any,
    concurrency: int,
    *,
    period: str | None,
    simulator_per_call: float,
) -> Result:
    n = len(ids)
    calls = math.ceil(n / BATCH)
    floor = calls * (B4B_LATENCY_MS / 1000) / concurrency
    simulator.reset()
    simulator.set_faults(Faults(latency_ms=B4B_LATENCY_MS))
    try:
        product_s, counts, start_s = _push(
            municipality, ids, period=period, timeout=max(600.0, floor * 20)
        )
    finally:
        simulator.set_faults(Faults())
    stats = simulator.stats(per_referanse=False)
    ratio = product_s / floor
    return Result(
        id="B4b",
        value=product_s,
        baseline=floor,
        ratio=ratio,
        target="<= 1.2x",
        passed=ratio <= 1.2,
        unit="s",
        extra={
            "bases": n,
            "calls": calls,
            "latency_ms": B4B_LATENCY_MS,
            "bases_per_second": n / product_s,
            "outcomes": counts,
            "start_seconds": start_s,
            "stored": stats["stored_total"],
            "stored_more_than_once": len(stats["stored_more_than_once"]),
            "simulator_calls": stats["calls"],
            "started_by": "period" if period else "selection",
            # The simulator handles calls one at a time under the GIL: its processing alone.
            "simulator_bound_seconds": calls * simulator_per_call,
        },
    )


# --- the product path -----------------------------------------------------------------------------


def _push(
    municipality: Municipality,
    ids: list[int],
    *,
    period: str | None = None,
    timeout: float = 600.0,
) -> tuple[float, dict[str, int], float]:
    """Send `ids` (or, with `period`, the whole month as *Send til Visma* does) and wait.
    Returns the time until the transfer is done, its outcomes, and how much of that time the
    start (locking the bases, writing the outbox) took."""
    reset_to_approved(municipality, ids)
    actor = bench_user(Role.MERKANTIL)
    started = time.perf_counter()
    if period:
        transfer = services.transfer_start(municipality, period=period, actor=actor)
    else:
        transfer = services.transfer_start(municipality, basis_ids=ids, actor=actor)
    start_seconds = time.perf_counter() - started
    deadline = started + timeout
    while True:
        status = Transfer.objects.values_list("status", flat=True).get(pk=transfer.pk)
        if status not in ("queued", "running"):
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"transfer {transfer.pk} still {status} after {timeout:.0f} s")
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    transfer.refresh_from_db()
    counts = selectors.transfer_counts(transfer)
    if transfer.status != "done" or counts.get("sent", 0) + counts.get("rejected", 0) != len(ids):
        raise RuntimeError(f"transfer {transfer.pk} ended {transfer.status}: {counts}")
    return elapsed, counts, start_seconds


def warm_up(municipality: Municipality, ids: list[int], concurrency: int) -> None:
    """Every worker process parses the WSDL and opens its connections once, before timing."""
    actor = bench_user(Role.SUPERBRUKER)
    transfers = [
        services.transfer_start(
            municipality, basis_ids=ids[i * 20 : (i + 1) * 20], actor=actor, test=True
        )
        for i in range(concurrency)
        if ids[i * 20 : (i + 1) * 20]
    ]
    deadline = time.monotonic() + 120
    pending = {t.pk for t in transfers}
    while pending and time.monotonic() < deadline:
        done = Transfer.objects.filter(pk__in=pending).exclude(status__in=["queued", "running"])
        pending -= set(done.values_list("pk", flat=True))
        time.sleep(0.05)
    if pending:
        raise RuntimeError("the Celery workers did not take the warm-up transfers")


def _bodies(municipality: Municipality, ids: list[int]) -> list[bytes]:
    context = context_for(municipality)
    bodies = []
    for i in range(0, len(ids), BATCH):
        chunk = ids[i : i + BATCH]
        mapped = load(chunk, context)
        soaps = [mapped[pk] for pk in chunk]
        assert all(isinstance(s, SoapBasis) for s in soaps)
        bodies.append(build_send_envelope(SELSKAP, f"B4-{i // BATCH:04d}", soaps))  # type: ignore[arg-type]
    return bodies


def mappable(municipality: Municipality, ids: list[int]) -> list[int]:
    """The bases the product would put on the wire (not refused by its own checks)."""
    context = context_for(municipality)
    keep: list[int] = []
    for i in range(0, len(ids), 1000):
        mapped = load(ids[i : i + 1000], context)
        keep.extend(pk for pk in ids[i : i + 1000] if isinstance(mapped.get(pk), SoapBasis))
    return keep


# --- set-up and clean-up --------------------------------------------------------------------------


@contextlib.contextmanager
def push_rig(
    municipality: Municipality, broker: str, concurrency: int, log: Path, *, name: str = "bench-b4"
) -> Iterator[SimulatorHandle]:
    """The simulator (no faults yet) with `municipality` pointed at it, and `concurrency` Celery
    worker processes on `broker` that *Send* wakes, for the block; everything stops afterwards,
    also on error. Yields the simulator."""
    simulator = start_simulator(port=0, faults=Faults())
    try:
        _point_at(municipality, simulator.url)
        workers = _start_workers(broker, concurrency, log, name=name)
        try:
            with _enqueue_on(broker):
                yield simulator
        finally:
            stop_process(workers)
    finally:
        simulator.stop()


def bench_broker(redis_url: str) -> str:
    """A Redis database of the benchmark's own (emptied first), for the workers and this process."""
    import redis

    parts = urlsplit(redis_url)
    db = os.environ.get("BENCH_REDIS_DB", "14")
    url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))
    redis.Redis.from_url(url).flushdb()
    return url


@contextlib.contextmanager
def _enqueue_on(broker: str) -> Iterator[None]:
    """Wake the workers through the benchmark's broker, as the product does through its own."""
    from celery import Celery

    app = Celery("bench-b4", broker=broker, set_as_current=False)
    app.conf.task_serializer = "json"
    original = wakeup.enqueue_send

    def enqueue(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
        for _ in range(copies):
            app.send_task(
                "integrations.tasks.send_transfer", args=[transfer_id], countdown=countdown
            )

    wakeup.enqueue_send = enqueue  # type: ignore[assignment]
    try:
        yield
    finally:
        wakeup.enqueue_send = original  # type: ignore[assignment]
        app.close()


def _point_at(municipality: Municipality, url: str) -> None:
    services.visma_settings_update(
        municipality,
        selskap=SELSKAP,
        base_url=url,
        username=USERNAME,
        password=PASSWORD,
        enabled=True,
        actor=None,
        via="bench",
    )


def _start_workers(
    broker: str, concurrency: int, log: Path, *, name: str = "bench-b4"
) -> subprocess.Popen[bytes]:
    env = subprocess_env(
        REDIS_URL=broker,
        DJANGO_ENV="development",
        DJANGO_DEBUG="false",
        LOG_LEVEL="WARNING",
        VISMA_PARALLEL_CALLS=str(concurrency),
        VISMA_BATCH_SIZE=str(BATCH),
    )
    cmd = [
        sys.executable, "-m", "celery", "-A", "aidn_billing", "worker",
        "--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate `proc` (its whole session if it does not go), and wait for it."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def reset_to_approved(municipality: Municipality, ids: list[int]) -> None:
    """Back to *approved*, without the previous run's transfers (benchmark set-up only)."""
    transfers = Transfer.objects.filter(municipality=municipality)
    TransferAttempt.objects.filter(transfer__in=transfers).delete()
    transfers.delete()
    BasisVismaStatus.objects.filter(basis__municipality=municipality).delete()
    for i in range(0, len(ids), 5000):
        InvoiceBasis.objects.filter(pk__in=ids[i : i + 5000]).update(status=BasisStatus.APPROVED)


def restore_statuses(municipality: Municipality, saved: dict[int, str]) -> None:
    reset_to_approved(municipality, [])
    by_status: dict[str, list[int]] = {}
    for pk, status in saved.items():
        by_status.setdefault(status, []).append(pk)
    for status, pks in by_status.items():
        for i in range(0, len(pks), 5000):
            InvoiceBasis.objects.filter(pk__in=pks[i : i + 5000]).update(status=status)
