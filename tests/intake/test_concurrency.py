"""Two deliveries of the same month at the same moment (PostgreSQL: real row locks)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from invoices.intake import IntakeResult, intake_bases
from invoices.models import InvoiceBasis, InvoiceLine, Municipality, Party
from tests.intake import helpers


@pytest.mark.django_db(transaction=True)
def test_same_batch_twice_at_once_is_stored_once(
    requires_postgres: None, kommune_a: Municipality, services_a: Any
) -> None:
    bases = helpers.batch(200)
    results: list[IntakeResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def deliver() -> None:
        try:
            start.wait()
            results.append(intake_bases(kommune_a, bases))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted((r.created, r.unchanged) for r in results) == [(0, 200), (200, 0)]
    assert InvoiceBasis.objects.count() == 200
    assert InvoiceLine.objects.count() == 200
    assert Party.objects.count() == 200
