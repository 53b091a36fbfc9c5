"""Waking workers for a transfer. The queue only wakes them: the attempt rows are the outbox, so a
lost or repeated message costs nothing (the sweeper wakes transfers whose due work waits)."""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.db import transaction

from core.queue import enqueue

from .models import (
    Transfer,
)
from .visma.contract import MAX_BASES_PER_CALL as MAX_BATCH_SIZE

logger = logging.getLogger(__name__)

SEND_TRANSFER = "integrations.tasks.send_transfer"


def batch_size() -> int:
    return max(1, min(MAX_BATCH_SIZE, int(settings.VISMA_BATCH_SIZE)))


def wake_after_commit(transfer: Transfer) -> None:
    workers = max(
        1, min(settings.VISMA_PARALLEL_CALLS, math.ceil(transfer.basis_count / batch_size()))
    )
    transfer_id = transfer.pk
    transaction.on_commit(lambda: enqueue_send(transfer_id, copies=workers))


def enqueue_send(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
    """Wake `copies` workers for the transfer. A lost message is harmless: the sweeper wakes
    transfers whose due work waits too long."""
    try:
        for _i in range(copies):
            enqueue(SEND_TRANSFER, transfer_id, countdown=countdown)
    except Exception:
        logger.exception("Could not enqueue transfer %s; the sweeper will pick it up", transfer_id)
