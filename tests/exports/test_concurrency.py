"""Two export runs over the same bases at the same moment: each basis is exported once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from exports.models import Export, ExportItem, ExportProfile, ExportStatus
from exports.run import _Run, export_run
from exports.services import export_create
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.exports.helpers import DIMS


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_export_each_basis_once(
    requires_postgres: None,
    kommune_a: Municipality,
    merkantil_a: Any,
    superbruker_a: Any,
    visma_profile: ExportProfile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bases = [factories.basis(kommune_a, lines=[{"dimensions": DIMS}]) for _ in range(5)]
    by_period = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )
    by_ids = export_create(
        kommune_a,
        period="2026-10",
        fmt="visma",
        basis_ids=[b.pk for b in bases],
        actor=superbruker_a,
        enqueue=False,
    )
    # Both runs have validated and written their file before either commits.
    barrier = threading.Barrier(2, timeout=30)
    original = _Run._commit

    def commit_together(self: Any, *args: Any) -> None:
        barrier.wait()
        original(self, *args)

    monkeypatch.setattr(_Run, "_commit", commit_together)
    errors: list[BaseException] = []

    def run(pk: int) -> None:
        try:
            export_run(pk)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(e.pk,)) for e in (by_period, by_ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors
    statuses = sorted(Export.objects.values_list("status", flat=True))
    assert statuses == [ExportStatus.DONE, ExportStatus.FAILED]
    done = Export.objects.get(status=ExportStatus.DONE)
    assert done.count == 5
    assert set(
        InvoiceBasis.objects.filter(pk__in=[b.pk for b in bases]).values_list("status", flat=True)
    ) == {BasisStatus.EXPORTED}
    # Every basis belongs to exactly one finished export; the loser kept nothing.
    assert ExportItem.objects.filter(export__status=ExportStatus.DONE).count() == 5
    assert not ExportItem.objects.exclude(export=done).exists()
    failed = Export.objects.get(status=ExportStatus.FAILED)
    assert "endret" in failed.failure and not failed.file
