"""What the health probes check (docs/operations.md, "Health").

Each check answers `{"ok": bool, ...}` with numbers only: never a host name, a URL, a path, an
error text (which could carry a DSN) or anything about a municipality. A failed check names the
kind of error, which is enough for an operator to know where to look in the logs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connections

from . import heartbeat
from .models import Role

Report = dict[str, Any]


def _failed(exc: BaseException) -> Report:
    return {"ok": False, "error": type(exc).__name__}


def database_connection() -> Any:
    """The connection the probe checks (a test swaps in one to a database that is not there)."""
    return connections[DEFAULT_DB_ALIAS]


def check_database() -> Report:
    started = time.perf_counter()
    try:
        with database_connection().cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return _failed(exc)
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def check_broker() -> Report:
    url = str(settings.CELERY_BROKER_URL)
    scheme = urlsplit(url).scheme
    started = time.perf_counter()
    try:
        if scheme in ("redis", "rediss"):
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
        elif scheme == "filesystem":
            folder = str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            if not os.access(folder, os.W_OK):
                return {"ok": False, "error": "BrokerFolderNotWritable"}
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return _failed(exc)
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_heartbeat(role: str, max_age: float) -> Report:
    try:
        count, age = heartbeat.fresh(role, max_age)
    except Exception as exc:
        return _failed(exc)
    report: Report = {"ok": count > 0, "fresh": count, "max_age_seconds": max_age}
    report["last_seen_seconds_ago"] = round(age, 1) if age is not None else None
    return report


def check_worker() -> Report:
    return _check_heartbeat(Role.WORKER, settings.HEALTH_WORKER_MAX_AGE)


def check_beat() -> Report:
    return _check_heartbeat(Role.BEAT, settings.HEALTH_BEAT_MAX_AGE)


def storage_path() -> Path | None:
    """The local directory of the file storage, or None for a storage without one."""
    try:
        return Path(default_storage.path(""))
    except NotImplementedError:
        return None


def check_disk() -> Report:
    path = storage_path()
    minimum = settings.HEALTH_MIN_FREE_DISK_MB
    if path is None:
        return {"ok": True, "applies": False}
    if not path.is_dir():
        return {"ok": False, "error": "StorageDirectoryMissing"}
    if not os.access(path, os.W_OK):
        return {"ok": False, "error": "StorageDirectoryNotWritable"}
    free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    return {"ok": free_mb >= minimum, "free_mb": free_mb, "min_free_mb": minimum}


CHECKS: dict[str, Callable[[], Report]] = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
    "beat": check_beat,
    "disk": check_disk,
}
# Heartbeats are read from the database: without it they cannot be checked.
NEEDS_DATABASE = ("worker", "beat")


def readiness(names: Iterable[str] | None = None) -> tuple[bool, Report]:
    """Run the named checks (all by default); whether all passed, and the report."""
    wanted = list(names) if names else list(CHECKS)
    results: Report = {}
    for name in wanted:
        if name in NEEDS_DATABASE and results.get("database", {}).get("ok") is False:
            results[name] = {"ok": False, "error": "DatabaseUnavailable"}
        else:
            results[name] = CHECKS[name]()
    ok = all(r["ok"] for r in results.values())
    return ok, {"status": "ok" if ok else "unavailable", "checks": results}
