"""A real Celery worker on real Redis and PostgreSQL, killed with SIGKILL in the middle of a run.

The simulator runs in this process (80 ms per call, no deduplication, so a second delivery of any
basis would show as a second stored copy). After the kill, the sweeper finds the dead worker's
claims once their lease expires, a fresh worker resolves them with HentStatus, and the run ends
with every basis stored exactly once and every attempt sent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection

from integrations import delivery, selectors, services, wakeup
from integrations.models import AttemptState, Transfer, TransferAttempt
from invoices.models import BasisStatus, InvoiceBasis
from tests.integrations.helpers import bulk_bases, per_ref

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = int(os.environ.get("VISMA_TEST_REDIS_DB", "13"))
BASES = 600
LEASE = 4.0
WORKER_ENV = {
    "DJANGO_ENV": "test",
    "CELERY_TASK_ALWAYS_EAGER": "false",
    "VISMA_BATCH_SIZE": "20",
    "VISMA_PARALLEL_CALLS": "2",
    "VISMA_CONNECT_TIMEOUT": "1",
    "VISMA_READ_TIMEOUT": "2",
    "VISMA_LEASE_SECONDS": str(LEASE),
    "VISMA_RETRY_BASE_SECONDS": "0.2",
    "VISMA_RETRY_MAX_SECONDS": "1",
    "VISMA_STATUS_SETTLE_SECONDS": "0.5",
    "VISMA_SWEEP_GRACE_SECONDS": "2",
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture
def broker(requires_redis: str) -> Iterator[str]:
    import redis

    parts = urlsplit(requires_redis)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def producer(broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Enqueue on the test broker, as the product would on its own."""
    from celery import Celery

    app = Celery("visma-crash-test", broker=broker, set_as_current=False)
    app.conf.task_serializer = "json"

    def enqueue(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
        for _ in range(copies):
            app.send_task(
                "integrations.tasks.send_transfer", args=[transfer_id], countdown=countdown
            )

    monkeypatch.setattr(wakeup, "enqueue_send", enqueue)
    yield app
    app.close()


def _database_url() -> str:
    s = connection.settings_dict
    auth = f"{quote(s['USER'])}:{quote(s['PASSWORD'])}@" if s["USER"] else ""
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_worker(broker: str, log: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **WORKER_ENV, "DATABASE_URL": _database_url(), "REDIS_URL": broker}
    cmd = [
        sys.executable, "-m", "celery", "-A", "aidn_billing", "worker",
        "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h",
    ]  # fmt: skip
    with log.open("ab") as out:
        # A session of its own, so the kill takes the pool children with the parent.
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _kill(proc: subprocess.Popen[bytes], *, hard: bool = True) -> None:
    """SIGKILL to the whole group (parent and pool children), or a warm shutdown (SIGTERM to the
    parent, which stops its children)."""
    if proc.poll() is None:
        try:
            if hard:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.terminate()
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for(predicate: Any, timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def test_worker_killed_mid_run_every_basis_stored_exactly_once(
    requires_postgres,
    transactional_db,
    producer,
    broker,
    kommune_a,
    merkantil_a,
    visma_a,
    simulator,
    settings,
    tmp_path,
):
    settings.VISMA_LEASE_SECONDS = LEASE
    settings.VISMA_SWEEP_GRACE_SECONDS = 2
    simulator.set_faults(latency_ms=80)
    ids = bulk_bases(kommune_a, BASES)
    log = tmp_path / "celery.log"
    first = _start_worker(broker, log, "visma-crash-1")
    second = None
    try:
        transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
        # Kill the worker (parent and pool children) with a third of the bases stored.
        _wait_for(lambda: simulator.stats(per_referanse=False)["stored_total"] >= BASES // 3,
                  60, "the first worker to store a third")  # fmt: skip
        _kill(first)
        assert first.returncode is not None
        stored_at_kill = simulator.stats(per_referanse=False)["stored_total"]
        assert stored_at_kill < BASES, "the kill came too late to test anything"
        transfer.refresh_from_db()
        assert transfer.status == "running"
        stuck = TransferAttempt.objects.filter(transfer=transfer, state=AttemptState.IN_FLIGHT)
        in_flight_at_kill = stuck.count()

        time.sleep(LEASE + 0.5)
        report = delivery.attempts_sweep()
        assert report["expired"] == in_flight_at_kill
        second = _start_worker(broker, log, "visma-crash-2")

        def finished() -> bool:
            delivery.attempts_sweep()  # what beat does every minute, here every half second
            transfer.refresh_from_db()
            return not transfer.is_active

        _wait_for(finished, 90, "the transfer to finish", step=0.5)
    finally:
        _kill(first)
        if second is not None:
            _kill(second, hard=False)
        print(log.read_text(errors="replace")[-3000:] if log.exists() else "")

    assert transfer.status == "done"
    assert selectors.transfer_counts(transfer) == {AttemptState.SENT: BASES}
    assert not TransferAttempt.objects.exclude(state=AttemptState.SENT).exists()
    assert set(InvoiceBasis.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        BasisStatus.SENT
    }
    stats = simulator.stats()
    assert stats["stored_unique"] == BASES
    assert stats["stored_more_than_once"] == []
    refs = per_ref(stats)
    assert {r["stored"] for r in refs.values()} == {1}
    # Exactly one store call per referanse: nothing the dead worker may have delivered was resent.
    assert {r["received"] for r in refs.values()} == {1}
    assert Transfer.objects.filter(status__in=["queued", "running"]).count() == 0
    print(
        f"killed with {stored_at_kill} stored and {in_flight_at_kill} in flight; {stats['calls']}"
    )
