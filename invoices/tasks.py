"""Celery wrappers around the domain's services."""

from __future__ import annotations

from celery import shared_task

from . import anomalies


@shared_task(name="invoices.tasks.refresh_anomalies")
def refresh_anomalies(municipality_id: int, periods: list[str], requested_at: str) -> int:
    """Compute the months' anomaly warnings again. Safe to run twice or late: a month that a
    refresh begun after `requested_at` already covered is skipped."""
    return anomalies.refresh_requested(municipality_id, periods, requested_at)
