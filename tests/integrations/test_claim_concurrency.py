"""Two workers claiming one transfer at the same moment, on PostgreSQL, each on its own connection.

The first worker holds its claim's transaction open while the second claims: with
`FOR UPDATE SKIP LOCKED` the second passes over the rows the first holds and takes the next batch
at once. Without it, the second would wait for the first to commit and then claim the very same
rows, and both would send them: a citizen billed twice.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integrations import delivery, services
from integrations.models import AttemptState, TransferAttempt
from tests.integrations.conftest import configure
from tests.integrations.helpers import bulk_bases

pytestmark = pytest.mark.integration

HOLD_SECONDS = 3.0  # how long the first worker keeps its claim open if the second does not finish


def test_a_second_worker_never_claims_rows_the_first_still_holds(
    requires_postgres: None,
    transactional_db: None,
    kommune_a: Any,
    merkantil_a: Any,
    wakeups: Any,
    settings: Any,
) -> None:
    settings.VISMA_BATCH_SIZE = 3
    configure(kommune_a, "http://127.0.0.1:9/")  # never called: the test only claims
    ids = bulk_bases(kommune_a, 6)
    transfer = services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a)
    now = timezone.now()
    pending = [AttemptState.PENDING]

    first_holds, second_done = threading.Event(), threading.Event()
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                rows = delivery._claim_rows(transfer.pk, pending, now, "worker-1", "B-1")
                claimed["first"] = [row.pk for row in rows]
                first_holds.set()
                # Hold the claim until the second worker is done (or long enough to show it
                # waits for this transaction, which is the bug).
                second_done.wait(HOLD_SECONDS)
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
            first_holds.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            first_holds.wait(HOLD_SECONDS)
            with transaction.atomic():
                rows = delivery._claim_rows(transfer.pk, pending, now, "worker-2", "B-2")
                claimed["second"] = [row.pk for row in rows]
            second_done.set()
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    assert len(claimed["first"]) == 3 and len(claimed["second"]) == 3
    assert not set(claimed["first"]) & set(claimed["second"]), claimed
    everyone = TransferAttempt.objects.filter(transfer=transfer)
    assert sorted(claimed["first"] + claimed["second"]) == sorted(
        everyone.values_list("pk", flat=True)
    )
    held_by = dict(everyone.values_list("pk", "claimed_by"))
    assert {held_by[pk] for pk in claimed["first"]} == {"worker-1"}
    assert {held_by[pk] for pk in claimed["second"]} == {"worker-2"}
