"""Celery tasks of the Visma integration: thin wrappers; the outbox rows make them idempotent."""

from __future__ import annotations

from celery import shared_task

from core.logs import log_context

from . import delivery, status


@shared_task(acks_late=True, ignore_result=True)
def send_transfer(transfer_id: int) -> None:
    with log_context(transfer_id=transfer_id):
        delivery.transfer_process(transfer_id)


@shared_task(ignore_result=True)
def sweep_stuck_attempts() -> None:
    delivery.attempts_sweep()


@shared_task(ignore_result=True)
def refresh_status(municipality_id: int | None = None) -> None:
    status.status_refresh_for(municipality_id)
