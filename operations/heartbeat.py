"""Heartbeats: each Celery worker writes one every HEALTH_HEARTBEAT_SECONDS from a thread of its
own, and beat writes one on its scheduler's ticks (`beat.py`). The readiness probe reads them.

In the database, not in Redis: the probe must be able to say "no worker" when the broker is the
thing that is down, and the rows cost one small UPDATE per process every few seconds.
"""

from __future__ import annotations

import datetime
import logging
import socket
import threading
from typing import Any

from celery import signals
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from .models import Heartbeat, Role

logger = logging.getLogger(__name__)

# Rows of processes gone for this long are deleted (a renamed worker, a retired host).
FORGET_AFTER = datetime.timedelta(days=7)


def record(role: str, name: str) -> None:
    """Say that process `name` of `role` is alive now."""
    now = timezone.now()
    updated = Heartbeat.objects.filter(role=role, name=name).update(seen_at=now)
    if not updated:
        Heartbeat.objects.update_or_create(role=role, name=name, defaults={"seen_at": now})
        Heartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()


def fresh(role: str, max_age: float) -> tuple[int, float | None]:
    """How many processes of `role` were seen within `max_age` seconds, and the age in seconds
    of the most recent sign of life (None if there never was one)."""
    now = timezone.now()
    seen = list(Heartbeat.objects.filter(role=role).values_list("seen_at", flat=True))
    if not seen:
        return 0, None
    ages = [(now - at).total_seconds() for at in seen]
    return sum(1 for age in ages if age <= max_age), max(0.0, min(ages))


def beat_name() -> str:
    return socket.gethostname()


class WorkerHeartbeat(threading.Thread):
    """Writes the worker's heartbeat until stopped. A failed write is logged once, not every
    time, and retried at the next beat."""

    def __init__(self, name: str, interval: float) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.worker_name = name
        self.interval = interval
        self.stopped = threading.Event()
        self.failing = False

    def run(self) -> None:
        while True:
            self.beat()
            if self.stopped.wait(self.interval):
                break
        connection.close()

    def beat(self) -> None:
        try:
            close_old_connections()
            record(Role.WORKER, self.worker_name)
        except Exception:
            if not self.failing:
                logger.warning("worker heartbeat could not be written", exc_info=True)
            self.failing = True
            connection.close()
        else:
            if self.failing:
                logger.info("worker heartbeat written again")
            self.failing = False

    def stop(self) -> None:
        self.stopped.set()


_thread: WorkerHeartbeat | None = None


def _worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _thread
    name = getattr(sender, "hostname", None) or f"celery@{socket.gethostname()}"
    _thread = WorkerHeartbeat(str(name), settings.HEALTH_HEARTBEAT_SECONDS)
    _thread.start()


def _worker_shutdown(**kwargs: Any) -> None:
    if _thread is not None:
        _thread.stop()


def connect_signals() -> None:
    signals.worker_ready.connect(_worker_ready, weak=False, dispatch_uid="operations.heartbeat")
    signals.worker_shutdown.connect(
        _worker_shutdown, weak=False, dispatch_uid="operations.heartbeat.stop"
    )
