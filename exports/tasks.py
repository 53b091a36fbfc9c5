"""Celery wrappers around the export services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from core.logs import log_context

from .run import export_run
from .services import ExportBusy, exports_resume_stale


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_export(self: Any, export_id: int) -> None:
    """acks_late is safe: export_run does nothing for a finished export, waits out a live run's
    lease, and takes over a dead one."""
    try:
        with log_context(export_id=export_id):
            export_run(export_id)
    except ExportBusy as busy:
        raise self.retry(countdown=max(5, int(busy.retry_after) + 1)) from busy


@shared_task
def resume_stale_exports() -> int:
    """Periodic: requeue exports whose worker died (or whose message was lost)."""
    return exports_resume_stale(enqueue=run_export.delay)
