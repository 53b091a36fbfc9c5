"""Celery beat's scheduler with a heartbeat (CELERY_BEAT_SCHEDULER points here).

Beat calls `tick()` in its loop at least every CELERY_BEAT_MAX_LOOP_INTERVAL seconds; each tick
that is more than a few seconds after the last one it recorded writes beat's heartbeat. A beat
that hangs or died stops ticking, and the readiness probe sees its tick grow old.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import PersistentScheduler
from django.db import close_old_connections

from . import heartbeat
from .models import Role

logger = logging.getLogger(__name__)

RECORD_EVERY = 5.0  # seconds


class HeartbeatScheduler(PersistentScheduler):
    _recorded_at = 0.0
    _failing = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._recorded_at >= RECORD_EVERY:
            self._recorded_at = now
            self.record_tick()
        return super().tick(*args, **kwargs)  # type: ignore[no-any-return]

    def record_tick(self) -> None:
        """Never lets a database problem stop the schedule: it is logged (once) and retried."""
        try:
            close_old_connections()
            heartbeat.record(Role.BEAT, heartbeat.beat_name())
        except Exception:
            if not self._failing:
                logger.warning("beat tick could not be recorded", exc_info=True)
            self._failing = True
        else:
            self._failing = False
