"""The product's own ways onto the queue, end to end: `integrations.wakeup.enqueue_send` (via
`transfer_start`) and `exports.tasks.run_export` (via `export_create`) put real messages on Redis,
and a real Celery worker process, on the test database, runs them to the end.

Nothing of the product is replaced: the in-process app keeps the broker the settings gave it
(REDIS_URL) and only has eager execution turned off for the test; the worker gets the same
REDIS_URL, the test database and the same MEDIA_ROOT. The Visma simulator runs in this process on a
port of its own. Other tests' enqueued messages may wait on that broker, so the queue is purged
before and after.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from aidn_billing.celery import app as celery_app
from exports.demo import seed_demo as seed_export_profile
from exports.models import Export, ExportStatus
from exports.services import export_create
from integrations import selectors, services
from integrations.models import AttemptState, VismaSettings
from integrations.visma_simulator import Faults, start_simulator
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from tests import factories

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[1]
DIMS = {"ansvar": "3100", "tjeneste": "25300", "prosjekt": "9"}
WORKER_ENV = {
    "DJANGO_ENV": "test",
    "CELERY_TASK_ALWAYS_EAGER": "false",
    "VISMA_CONNECT_TIMEOUT": "1",
    "VISMA_READ_TIMEOUT": "5",
    "VISMA_RETRY_BASE_SECONDS": "0.2",
    "VISMA_RETRY_MAX_SECONDS": "1",
    "VISMA_STATUS_SETTLE_SECONDS": "0.5",
    "LOG_LEVEL": "WARNING",
}


def _database_url() -> str:
    s = connection.settings_dict
    auth = f"{quote(s['USER'])}:{quote(s['PASSWORD'])}@" if s["USER"] else ""
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def product_broker(requires_redis: str) -> Iterator[str]:
    """The product app's own broker, with eager execution off, and an empty queue."""
    assert celery_app.conf.broker_url == requires_redis, "the app must use REDIS_URL"
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    yield requires_redis
    celery_app.control.purge()
    celery_app.conf.task_always_eager = before


@pytest.fixture
def simulator() -> Iterator[Any]:
    handle = start_simulator(port=0)
    handle.set_faults(Faults(dedup=False))  # a second delivery would show as a second copy
    yield handle
    handle.stop()


@pytest.fixture
def worker(product_broker: str, tmp_path: Path, settings: Any) -> Iterator[subprocess.Popen[bytes]]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    env = {
        **os.environ,
        **WORKER_ENV,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": product_broker,
        "MEDIA_ROOT": settings.MEDIA_ROOT,
    }
    log = tmp_path / "celery.log"
    cmd = [
        sys.executable, "-m", "celery", "-A", "aidn_billing", "worker",
        "--pool", "solo", "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", "broker-paths@%h",
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    yield proc
    if proc.poll() is None:
        proc.terminate()  # warm shutdown: the solo pool finishes its task first
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    print(log.read_text(errors="replace")[-3000:])


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _month(m: Municipality, period: str, n: int) -> list[int]:
    payer = factories.party(m, factories.FNR_OTHER, name="Kari Nordmann")
    return [
        factories.basis(m, period=period, payer=payer, lines=[{"dimensions": DIMS}]).pk
        for _ in range(n)
    ]


def test_send_and_export_through_the_product_enqueue_and_a_real_worker(
    requires_postgres: None,
    transactional_db: None,
    kommune_a: Municipality,
    merkantil_a: Any,
    simulator: Any,
    worker: subprocess.Popen[bytes],
) -> None:
    seed_export_profile(kommune_a)
    visma = VismaSettings(
        municipality=kommune_a, selskap="1", base_url=simulator.url, username="demo", enabled=True
    )
    visma.set_password("demo-visma-2026")
    visma.save()
    to_send = _month(kommune_a, "2026-10", 3)
    to_export = _month(kommune_a, "2026-11", 2)

    # The product's own calls; each enqueues once its transaction commits.
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    export = export_create(kommune_a, period="2026-11", fmt="visma", actor=merkantil_a)

    def settled() -> bool:
        transfer.refresh_from_db()
        export.refresh_from_db()
        return not transfer.is_active and export.status not in ("queued", "running")

    _wait_for(settled, 60, "the worker to finish the transfer and the export")
    assert worker.poll() is None, "the worker died"

    assert transfer.status == "done"
    assert selectors.transfer_counts(transfer) == {AttemptState.SENT: 3}
    sent = InvoiceBasis.objects.filter(pk__in=to_send)
    assert set(sent.values_list("status", flat=True)) == {BasisStatus.SENT}
    stats = simulator.stats()
    assert stats["stored_unique"] == 3 and stats["stored_more_than_once"] == []

    assert export.status == ExportStatus.DONE, export.findings
    data = Path(export.file.path).read_bytes()
    assert export.sha256 == hashlib.sha256(data).hexdigest()
    assert data.startswith(b"ST") and data.count(b"\r\nFL") == 2
    exported = InvoiceBasis.objects.filter(pk__in=to_export)
    assert set(exported.values_list("status", flat=True)) == {BasisStatus.EXPORTED}
    assert Export.objects.get(pk=export.pk).items.count() == 2
