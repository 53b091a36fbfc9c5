"""The Celery task is a thin, idempotent wrapper: a second delivery does no harm."""

from __future__ import annotations

from typing import Any

import pytest
from celery.exceptions import Retry

from exports import tasks
from exports.models import ExportProfile, ExportStatus
from exports.services import ExportBusy, export_create
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.exports.helpers import DIMS

pytestmark = pytest.mark.django_db


def test_task_runs_the_export_once_even_when_delivered_twice(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )

    tasks.run_export(export.pk)
    tasks.run_export(export.pk)

    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    assert InvoiceBasis.objects.get(pk=basis.pk).status == BasisStatus.EXPORTED
    assert AuditEvent.objects.filter(action="export.done").count() == 1


def test_task_retries_while_another_worker_holds_the_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def busy(export_id: int) -> None:
        raise ExportBusy(30)

    monkeypatch.setattr(tasks, "export_run", busy)
    with pytest.raises(Retry):
        tasks.run_export.apply(args=(1,), throw=True)
