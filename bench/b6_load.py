"""B6: twenty people browse the month while 20 000 bases go to Visma (spec/reliability.md, "load").

The product is served on loopback by gunicorn (several processes, several threads each) from the
bench database. The push is B4b's: `transfer_start` of the XL month, real Celery workers on Redis,
the Visma simulator adding 200 ms to every call (bench/b4_push.py's rig). Twenty users of Demo
kommune, each with a session of their own, log in through the login form and browse like a
browser does (bench/load_users.py, a process of its own): a random list page of the month with the
fragments htmx loads with it (sums, the *Send til Visma* box), the overview with its next step's
detail, the Kontrollrapport, a basis with its Visma fragment, the transfer page with its progress
fragment, with a pause of 0.5–1.5 s between pages.

First, with no push running, they browse for QUIET_SECONDS: the baseline is the median latency of
that phase. Then the push starts and they browse until it is done (at most LOAD_SECONDS).

Results: `B6-errors` (requests under load answered with anything but 2xx, or not at all; target 0;
the ratio is the share of requests), `B6-p95` and `B6-max` (latency of every request under load
against 1 s; ratio against the quiet median), `B6-push` (bases sent while the users browsed, of
all; passes when the push ended with every basis stored exactly once by the simulator).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from django.urls import reverse

from bench.b4_push import (
    B4B_BASES,
    B4B_LATENCY_MS,
    BATCH,
    bench_broker,
    mappable,
    push_rig,
    reset_to_approved,
    restore_statuses,
    stop_process,
    warm_up,
)
from bench.common import Result
from bench.db import (
    Month,
    bench_user,
    bench_users,
    largest_size,
    load_month,
    require_postgres,
    require_redis,
    subprocess_env,
)
from integrations import selectors as visma_selectors
from integrations import services
from integrations.models import Transfer
from integrations.visma_simulator import Faults
from invoices.models import InvoiceBasis, Role
from invoices.views import PAGE_SIZE

ROOT = Path(__file__).resolve().parent.parent
USERS = 20
QUIET_SECONDS = 10.0
LOAD_SECONDS = 60.0
THINK_SECONDS = (0.5, 1.5)
TARGET_SECONDS = 1.0
SAMPLE_BASES = 200  # distinct basis pages the users pick from
START_TIMEOUT = 60.0  # gunicorn ready, users logged in
PUSH_TIMEOUT = 900.0


def run(args: argparse.Namespace) -> list[Result]:
    require_postgres("B6")
    broker = bench_broker(require_redis("B6"))
    concurrency = int(os.environ.get("BENCH_VISMA_CONCURRENCY", "4"))
    month = load_month(largest_size(args), args.seed)
    municipality = month.municipality
    ids = list(
        InvoiceBasis.objects.filter(municipality=municipality, period=month.period)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    ids = mappable(municipality, ids)[:B4B_BASES]
    whole_month = len(ids) == month.bases
    saved = dict(InvoiceBasis.objects.filter(pk__in=ids).values_list("pk", "status"))
    users = bench_users(USERS)
    actor = bench_user(Role.MERKANTIL)
    shown = random.Random(args.seed).sample(ids, min(SAMPLE_BASES, len(ids)))
    tmp = Path(tempfile.gettempdir())
    logs = {"web": tmp / "bench-b6-gunicorn.log", "workers": tmp / "bench-b6-celery.log"}
    try:
        with (
            push_rig(municipality, broker, concurrency, logs["workers"], name="bench-b6") as sim,
            web_server(logs["web"], broker) as base_url,
            browsers(base_url, users, args.seed) as people,
        ):
            reset_to_approved(municipality, ids)
            warm_up(municipality, ids[:BATCH], concurrency)
            # The quiet phase shows a finished transfer: the same pages, nothing moving.
            finished = Transfer.objects.filter(municipality=municipality).latest("pk")
            quiet = people.phase(_pages(month, shown, finished.pk), QUIET_SECONDS)

            reset_to_approved(municipality, ids)
            sim.reset()
            sim.set_faults(Faults(latency_ms=B4B_LATENCY_MS))
            started = time.perf_counter()
            if whole_month:
                transfer = services.transfer_start(municipality, period=month.period, actor=actor)
            else:
                transfer = services.transfer_start(municipality, basis_ids=ids, actor=actor)
            start_seconds = time.perf_counter() - started
            people.start(_pages(month, shown, transfer.pk), LOAD_SECONDS)
            deadline = time.perf_counter() + LOAD_SECONDS
            while _active(transfer) and time.perf_counter() < deadline:
                time.sleep(0.25)
            loaded = people.finish()
            browsed_until = time.perf_counter() - started
            sent_while_browsing = visma_selectors.transfer_counts(transfer).get("sent", 0)
            push_deadline = started + PUSH_TIMEOUT
            while _active(transfer):
                if time.perf_counter() > push_deadline:
                    raise RuntimeError(f"transfer {transfer.pk} not done after {PUSH_TIMEOUT} s")
                time.sleep(0.25)
            push_seconds = time.perf_counter() - started
            transfer.refresh_from_db()
            counts = visma_selectors.transfer_counts(transfer)
            stats = sim.stats(per_referanse=False)
    finally:
        restore_statuses(municipality, saved)

    common = {
        "size": month.size,
        "users": USERS,
        "think_seconds": list(THINK_SECONDS),
        "concurrency": concurrency,
        "web": "gunicorn --workers {} --threads {}".format(*_web_shape()),
        "logs": {k: str(v) for k, v in logs.items()},
    }
    under_load = loaded["samples"]
    errors = [s for s in under_load if not 200 <= s[1] < 300 or s[3]]
    quiet_median = statistics.median(s[2] for s in quiet["samples"])
    latencies = sorted(s[2] for s in under_load)
    p95 = _percentile(latencies, 95)
    worst = latencies[-1] if latencies else math.inf
    detail = {
        **common,
        "requests": len(under_load),
        "browse_seconds": loaded["browse_seconds"],
        "quiet_requests": len(quiet["samples"]),
        "by_kind": _by_kind(under_load),
        "quiet_by_kind": _by_kind(quiet["samples"]),
        "login_seconds": people.login_seconds,
    }
    sent = counts.get("sent", 0)
    exactly_once = (
        transfer.status == "done"
        and sent + counts.get("rejected", 0) == len(ids)
        and stats["stored_total"] == sent
        and not stats["stored_more_than_once"]
    )
    return [
        Result(
            id="B6-errors",
            value=len(errors),
            baseline=sum(1 for s in quiet["samples"] if not 200 <= s[1] < 300 or s[3]),
            ratio=len(errors) / len(under_load) if under_load else math.inf,
            target="0 errors",
            passed=not errors and bool(under_load),
            unit="err",
            extra={**detail, "first_errors": errors[:10]},
        ),
        Result(
            id="B6-p95",
            value=p95,
            baseline=quiet_median,
            ratio=p95 / quiet_median,
            target=f"<= {TARGET_SECONDS:g} s",
            passed=p95 <= TARGET_SECONDS,
            extra=detail,
        ),
        Result(
            id="B6-max",
            value=worst,
            baseline=quiet_median,
            ratio=worst / quiet_median,
            target=f"<= {TARGET_SECONDS:g} s",
            passed=worst <= TARGET_SECONDS,
            extra={**detail, "slowest": sorted(under_load, key=lambda s: -s[2])[:10]},
        ),
        Result(
            id="B6-push",
            value=sent_while_browsing,
            baseline=len(ids),
            ratio=sent_while_browsing / len(ids) if ids else 0.0,
            target="each once",
            passed=exactly_once,
            unit="b",
            extra={
                **common,
                "bases": len(ids),
                "browsed_seconds": browsed_until,
                "push_seconds": push_seconds,
                "start_seconds": start_seconds,
                "outcomes": counts,
                "stored": stats["stored_total"],
                "stored_more_than_once": len(stats["stored_more_than_once"]),
                "floor_seconds": math.ceil(len(ids) / BATCH) * B4B_LATENCY_MS / 1000 / concurrency,
            },
        ),
    ]


def _active(transfer: Transfer) -> bool:
    status = Transfer.objects.values_list("status", flat=True).get(pk=transfer.pk)
    return status in ("queued", "running")


def _pages(month: Month, shown: list[int], transfer_id: int) -> dict[str, Any]:
    """The paths one browsing round visits (the list page gets a random `page`)."""
    period = f"period={month.period}"
    return {
        "list_paths": [f"{reverse('invoices:list')}?{period}"],
        "list_pages": math.ceil(month.bases / PAGE_SIZE),
        "list_fragments": [
            f"{reverse('invoices:list_summary')}?{period}",
            f"{reverse('integrations:period_actions')}?{period}",
        ],
        "overview_paths": [
            f"{reverse('overview')}?{period}",
            f"{reverse('invoices:validation_summary')}?{period}",
        ],
        "report_path": f"{reverse('invoices:validation_report')}?{period}",
        "basis_paths": [
            [reverse("invoices:detail", args=[pk]), reverse("integrations:basis_extra", args=[pk])]
            for pk in shown
        ],
        "transfer_paths": [
            reverse("integrations:transfer_detail", args=[transfer_id]),
            reverse("integrations:transfer_progress", args=[transfer_id]),
        ],
    }


def _percentile(ordered: list[float], pct: int) -> float:
    if not ordered:
        return math.inf
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[pct - 1]


def _by_kind(samples: list[list[Any]]) -> dict[str, dict[str, float]]:
    kinds: dict[str, list[float]] = {}
    for kind, _status, seconds, _error in samples:
        kinds.setdefault(kind, []).append(seconds)
    return {
        kind: {
            "n": len(times),
            "median_s": statistics.median(times),
            "p95_s": _percentile(sorted(times), 95),
            "max_s": max(times),
        }
        for kind, times in sorted(kinds.items())
    }


# --- the web server and the people ----------------------------------------------------------------


def _web_shape() -> tuple[str, str]:
    return os.environ.get("BENCH_WEB_WORKERS", "2"), os.environ.get("BENCH_WEB_THREADS", "4")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def web_server(log: Path, broker: str) -> Iterator[str]:
    """gunicorn serving the bench database on a free loopback port, for the block."""
    workers, threads = _web_shape()
    port = _free_port()
    env = subprocess_env(
        REDIS_URL=broker, DJANGO_ENV="development", DJANGO_DEBUG="false", LOG_LEVEL="WARNING"
    )
    cmd = [
        sys.executable, "-m", "gunicorn", "aidn_billing.wsgi",
        "--workers", workers, "--threads", threads, "--bind", f"127.0.0.1:{port}",
        "--timeout", "60", "--graceful-timeout", "10", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}: see {log}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/logg-inn/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn not answering after {START_TIMEOUT:.0f} s: see {log}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)


class People:
    """The browsing process (bench/load_users.py): logged in, then told phase by phase."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.login_seconds = 0.0
        self._seconds = 0.0

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"the browsing users did not answer within {timeout:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the browsing users exited with {self.proc.wait(timeout=10)}")
        return json.loads(line)  # type: ignore[no-any-return]

    def start(self, pages: dict[str, Any], seconds: float) -> None:
        self._seconds = seconds
        self.send({**pages, "seconds": seconds})

    def finish(self) -> dict[str, Any]:
        """End the running phase now (if its time has not run out) and collect its requests."""
        self.send({"stop": True})
        # Every request is bounded by the client's read timeout (30 s).
        return self.receive(self._seconds + 60)

    def phase(self, pages: dict[str, Any], seconds: float) -> dict[str, Any]:
        self.start(pages, seconds)
        return self.receive(seconds + 60)


@contextlib.contextmanager
def browsers(base_url: str, users: list[tuple[str, str]], seed: int) -> Iterator[People]:
    """The users, logged in through the login form, each with a session of its own."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.load_users"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    people = People(proc)
    try:
        people.send({"base_url": base_url, "users": users, "think_s": THINK_SECONDS, "seed": seed})
        login = people.receive(START_TIMEOUT)
        if login["login_errors"]:
            raise RuntimeError(f"login failed: {login['login_errors'][:3]}")
        people.login_seconds = login["login_seconds"]
        yield people
    finally:
        if proc.stdin:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stop_process(proc)
