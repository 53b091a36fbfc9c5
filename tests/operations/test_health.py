"""Health probes (docs/operations.md, "Health"): liveness answers without the database; readiness
says 200 only when the database, the broker, a worker's heartbeat, beat's tick and the free disk
space are all fine, and 503 with the failing part named when any is stopped or stale. Neither
needs a login, and neither says anything secret or personal."""

from __future__ import annotations

import datetime
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from aidn_billing.celery import app as celery_app
from operations import health, heartbeat
from operations.beat import HeartbeatScheduler
from operations.models import Heartbeat, Role

# The load balancer probes a backend by its address, over plain HTTP.
PROBE = {"HTTP_HOST": "10.20.30.40:8000"}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def production_like(settings: Any, tmp_path: Path) -> Any:
    """HTTPS redirect on, a host list without the backend's address, a filesystem broker, a
    storage directory, and a low free-space floor: every check can pass."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["faktura.example.no"]
    folder = tmp_path / "broker"
    folder.mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(folder)}
    settings.MEDIA_ROOT = str(tmp_path / "files")
    Path(settings.MEDIA_ROOT).mkdir()
    settings.HEALTH_MIN_FREE_DISK_MB = 1
    return settings


def _alive(role: str, seconds_ago: float, name: str = "celery@host-b") -> None:
    Heartbeat.objects.update_or_create(
        role=role,
        name=name,
        defaults={"seen_at": timezone.now() - datetime.timedelta(seconds=seconds_ago)},
    )


def _ready(query: str = "") -> tuple[int, dict[str, Any]]:
    response = Client().get(f"/health/ready{query}", **PROBE)  # type: ignore[arg-type]
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def test_liveness_answers_without_database_host_check_or_https(production_like: Any) -> None:
    # No `db` fixture: any database access here would fail the test.
    response = Client().get("/health/live", **PROBE)  # type: ignore[arg-type]
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    # The same host and scheme on an ordinary page: refused host (400), as production wants.
    assert Client().get("/logg-inn/", **PROBE).status_code == 400  # type: ignore[arg-type]
    assert Client().post("/health/live", **PROBE).status_code == 405  # type: ignore[arg-type]


def test_ready_when_every_part_is_fine(db: None, production_like: Any) -> None:
    _alive(Role.WORKER, 5)
    _alive(Role.BEAT, 5, name="host-c")
    status, body = _ready()
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "worker", "beat", "disk"}
    assert body["checks"]["worker"]["fresh"] == 1
    assert body["checks"]["disk"]["free_mb"] >= 1


def test_database_unreachable(db: None, production_like: Any, monkeypatch: Any) -> None:
    _alive(Role.WORKER, 5)
    _alive(Role.BEAT, 5)
    default = connections["default"]
    broken = dict(default.settings_dict)
    if default.vendor == "sqlite":
        broken["NAME"] = "/nonexistent/dir/db.sqlite3"
    else:
        broken["PORT"] = str(_closed_port())
    unreachable = default.__class__(broken, alias="health-test")
    monkeypatch.setattr(health, "database_connection", lambda: unreachable)
    try:
        status, body = _ready()
    finally:
        unreachable.close()
    assert status == 503
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    # Heartbeats live in the database: without it they are not known, and say so.
    assert body["checks"]["worker"] == {"ok": False, "error": "DatabaseUnavailable"}
    assert body["checks"]["broker"]["ok"] and body["checks"]["disk"]["ok"]


def test_broker_unreachable(db: None, production_like: Any) -> None:
    _alive(Role.WORKER, 5)
    _alive(Role.BEAT, 5)
    production_like.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    status, body = _ready()
    assert status == 503
    assert body["checks"]["broker"] == {"ok": False, "error": "ConnectionError"}
    assert all(body["checks"][c]["ok"] for c in ("database", "worker", "beat", "disk"))
    assert str(production_like.CELERY_BROKER_URL) not in json.dumps(body)


def test_broker_on_redis(db: None, production_like: Any, requires_redis: str) -> None:
    production_like.CELERY_BROKER_URL = requires_redis
    assert health.check_broker()["ok"] is True


@pytest.mark.parametrize("seconds_ago", [None, 61.0])
def test_no_recent_worker_heartbeat(
    db: None, production_like: Any, seconds_ago: float | None
) -> None:
    _alive(Role.BEAT, 5)
    if seconds_ago is not None:
        _alive(Role.WORKER, seconds_ago)
    status, body = _ready()
    assert status == 503
    worker = body["checks"]["worker"]
    assert worker["ok"] is False and worker["fresh"] == 0
    expected = None if seconds_ago is None else pytest.approx(seconds_ago, abs=2)
    assert worker["last_seen_seconds_ago"] == expected
    assert body["checks"]["beat"]["ok"] is True


def test_stale_beat_tick(db: None, production_like: Any) -> None:
    _alive(Role.WORKER, 5)
    _alive(Role.BEAT, 91)
    status, body = _ready()
    assert status == 503
    assert body["checks"]["beat"]["ok"] is False and body["checks"]["worker"]["ok"] is True


def test_disk_below_threshold_or_storage_missing(db: None, production_like: Any) -> None:
    _alive(Role.WORKER, 5)
    _alive(Role.BEAT, 5)
    production_like.HEALTH_MIN_FREE_DISK_MB = 10**12  # a petabyte more than any disk here
    status, body = _ready()
    assert status == 503
    assert body["checks"]["disk"]["ok"] is False
    assert body["checks"]["disk"]["free_mb"] < 10**12

    production_like.HEALTH_MIN_FREE_DISK_MB = 1
    Path(production_like.MEDIA_ROOT).rmdir()  # the shared volume is not mounted
    status, body = _ready()
    assert status == 503
    assert body["checks"]["disk"] == {"ok": False, "error": "StorageDirectoryMissing"}
    assert str(production_like.MEDIA_ROOT) not in json.dumps(body)


def test_checks_can_be_chosen_and_unknown_ones_are_refused(db: None, production_like: Any) -> None:
    # No heartbeats at all: the web's own dependencies alone are still ready.
    status, body = _ready("?check=database&check=disk")
    assert status == 200 and set(body["checks"]) == {"database", "disk"}
    status, body = _ready("?check=database&check=cpu")
    assert status == 400 and body["unknown_checks"] == ["cpu"]


def test_worker_heartbeat_thread_records_and_stops(transactional_db: None, settings: Any) -> None:
    settings.HEALTH_HEARTBEAT_SECONDS = 0.05

    class Consumer:
        hostname = "celery@host-b"

    heartbeat._worker_ready(sender=Consumer())
    thread = heartbeat._thread
    assert thread is not None
    try:
        deadline = timezone.now() + datetime.timedelta(seconds=10)
        while not Heartbeat.objects.filter(role=Role.WORKER, name="celery@host-b").exists():
            assert timezone.now() < deadline, "no heartbeat written"
    finally:
        heartbeat._worker_shutdown()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert heartbeat.fresh(Role.WORKER, 60)[0] == 1


def test_beat_scheduler_records_its_tick(transactional_db: None, tmp_path: Path) -> None:
    scheduler = HeartbeatScheduler(celery_app, schedule_filename=str(tmp_path / "schedule"))
    try:
        interval = scheduler.tick()
    finally:
        scheduler.close()
    assert 0 <= interval <= 15
    [row] = Heartbeat.objects.filter(role=Role.BEAT)
    assert row.name == heartbeat.beat_name()
    assert (timezone.now() - row.seen_at).total_seconds() < 5
