"""One selection (issue: the send button ignored the unit filter): approval, the file export and
the Visma send act on exactly the period, unit and service the list shows, and every confirmation
states the selection, the count and the total."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exports.models import Export, ExportItem, ExportProfile
from integrations.models import Transfer, TransferAttempt
from invoices.models import BasisStatus, InvoiceBasis, Municipality, TransferRoute
from tests import factories
from tests.integrations.conftest import configure

pytestmark = pytest.mark.django_db

SELECTION = {"period": "2026-10", "unit": "HJT-SOR", "service": "TA"}


@pytest.fixture
def month(kommune_a: Municipality) -> dict[str, list[int]]:
    """Approved bases: in the selection (south, with an alarm line), and three outside it."""
    south = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    alarm = factories.service(kommune_a, "TA", name="Trygghetsalarm", visma_vare="0200")
    alarm_line = {"service": alarm, "quantity": "1.00", "unit_price_ore": 30000}
    inside = [
        factories.basis(kommune_a, unit_obj=south, lines=[alarm_line]).pk,
        factories.basis(kommune_a, unit_obj=south, lines=[{}, alarm_line]).pk,
    ]
    outside = [
        factories.basis(kommune_a, unit_obj=south).pk,  # south, no alarm
        factories.basis(kommune_a, lines=[alarm_line]).pk,  # alarm, north
        factories.basis(kommune_a, period="2026-09", unit_obj=south, lines=[alarm_line]).pk,
    ]
    return {"inside": inside, "outside": outside}


@pytest.fixture
def file_route(kommune_a: Municipality) -> ExportProfile:
    factories.accounting(
        kommune_a, transfer_route=TransferRoute.VISMA_FILE, default_oppdragsgiver="013"
    )
    return ExportProfile.objects.get_or_create(municipality=kommune_a)[0]


def _confirmation(body: str) -> tuple[str, str, str]:
    def field(name: str) -> str:
        start = body.index(f'data-testid="{name}">') + len(f'data-testid="{name}">')
        return body[start : body.index("<", start)].replace("\xa0", " ")

    return field("selection"), field("confirm-count"), field("confirm-total")


def test_approval_takes_only_the_selection(
    client: Client, kommune_a: Municipality, merkantil_a: Any, month: dict[str, list[int]]
) -> None:
    InvoiceBasis.objects.update(status=BasisStatus.RECEIVED)
    client.force_login(merkantil_a)
    client.post(reverse("invoices:period_approve"), SELECTION)
    approved = set(
        InvoiceBasis.objects.filter(status=BasisStatus.APPROVED).values_list("pk", flat=True)
    )
    assert approved == set(month["inside"])


def test_the_export_confirms_and_exports_the_selection(
    client: Client,
    kommune_a: Municipality,
    merkantil_a: Any,
    month: dict[str, list[int]],
    file_route: ExportProfile,
    settings: Any,
    tmp_path: Any,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    client.force_login(merkantil_a)
    body = client.get(reverse("exports:start"), SELECTION).content.decode()
    assert _confirmation(body) == (
        "2026-10, Hjemmetjenesten sone sør, Trygghetsalarm",
        "2",
        "1 460,00 kr",
    )
    response = client.post(reverse("exports:start"), {**SELECTION, "format": "visma"})
    export = Export.objects.get()
    assert response["Location"] == reverse("exports:detail", args=[export.pk])
    assert export.unit is not None and export.service is not None
    assert (export.unit.code, export.service.code) == ("HJT-SOR", "TA")
    from exports.run import export_run

    export_run(export.pk)
    assert set(ExportItem.objects.values_list("basis_id", flat=True)) == set(month["inside"])


def test_the_visma_send_confirms_and_sends_the_selection(
    client: Client, kommune_a: Municipality, merkantil_a: Any, month: dict[str, list[int]]
) -> None:
    configure(kommune_a, "http://127.0.0.1:9/fakturering_ws/")
    factories.accounting(kommune_a, transfer_route=TransferRoute.VISMA_API)
    client.force_login(merkantil_a)
    body = client.get(reverse("integrations:send"), SELECTION).content.decode()
    assert _confirmation(body) == (
        "2026-10, Hjemmetjenesten sone sør, Trygghetsalarm",
        "2",
        "1 460,00 kr",
    )
    client.post(reverse("integrations:send"), SELECTION)
    transfer = Transfer.objects.get()
    assert transfer.unit is not None and transfer.service is not None
    assert (transfer.unit.code, transfer.service.code, transfer.basis_count) == ("HJT-SOR", "TA", 2)
    sent = set(TransferAttempt.objects.values_list("basis_id", flat=True))
    assert sent == set(month["inside"])
    still_approved = InvoiceBasis.objects.filter(status=BasisStatus.APPROVED)
    assert set(still_approved.values_list("pk", flat=True)) == set(month["outside"])


def test_an_unknown_unit_selects_nothing_rather_than_everything(
    client: Client, kommune_a: Municipality, merkantil_a: Any, month: dict[str, list[int]]
) -> None:
    InvoiceBasis.objects.update(status=BasisStatus.RECEIVED)
    client.force_login(merkantil_a)
    client.post(reverse("invoices:period_approve"), {"period": "2026-10", "unit": "FINNES-IKKE"})
    assert not InvoiceBasis.objects.filter(status=BasisStatus.APPROVED).exists()
