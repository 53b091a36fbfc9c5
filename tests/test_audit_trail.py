"""The audit trail names the bases each event concerns, and a correction from the care system is
recorded per basis with what changed: the basis page's story rests on these."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoices.intake import intake_bases
from invoices.models import AuditedBasis, AuditEvent, InvoiceBasis, Municipality
from invoices.services import invoice_basis_approve, invoice_basis_delete, invoice_basis_unapprove
from tests import factories
from tests.intake import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def catalogue(kommune_a: Municipality) -> None:
    helpers.catalogue(kommune_a)


def linked(event: AuditEvent) -> set[str]:
    return set(
        AuditedBasis.objects.filter(event=event).values_list("basis__source_reference", flat=True)
    )


def test_an_intake_names_the_bases_it_created(kommune_a: Municipality) -> None:
    intake_bases(kommune_a, [helpers.basis("HT-1"), helpers.basis("HT-2")], source="api:Fag")
    first = AuditEvent.objects.get(action="invoice_basis.intake")
    assert linked(first) == {"HT-1", "HT-2"}
    # A retry stores nothing and names nothing; a new basis beside it is named alone.
    intake_bases(kommune_a, [helpers.basis("HT-1"), helpers.basis("HT-3")], source="api:Fag")
    second = AuditEvent.objects.filter(action="invoice_basis.intake").latest("id")
    assert linked(second) == {"HT-3"}


def test_a_correction_is_recorded_per_basis_with_what_changed(kommune_a: Municipality) -> None:
    intake_bases(
        kommune_a,
        [helpers.basis("HT-1"), helpers.basis("HT-2")],
        source="api:Fagsystem",
    )
    two_lines = [helpers.line(), helpers.line("TA", quantity="1.00", unit_price_ore=20000)]
    other_payer = helpers.payer(factories.FNR_OTHER, name="Ola Nordmann")
    intake_bases(
        kommune_a,
        [
            helpers.basis("HT-1", lines=two_lines),
            helpers.basis("HT-2", payer_obj=other_payer, unit={"code": "SOR", "name": "Sør"}),
        ],
        source="api:Fagsystem",
    )
    intake = AuditEvent.objects.filter(action="invoice_basis.intake").latest("id")
    events = {
        e.data["source_reference"]: e
        for e in AuditEvent.objects.filter(action="invoice_basis.corrected")
    }
    assert set(events) == {"HT-1", "HT-2"}
    one = events["HT-1"]
    basis = InvoiceBasis.objects.get(source_reference="HT-1")
    assert (one.object_type, one.object_id) == ("invoices.InvoiceBasis", str(basis.pk))
    assert linked(one) == {"HT-1"}
    assert one.data["changed"] == ["total_ore", "line_count"]
    assert (one.data["before"]["total_ore"], one.data["after"]["total_ore"]) == (86000, 106000)
    assert (one.data["before"]["line_count"], one.data["after"]["line_count"]) == (1, 2)
    assert one.data["source"] == "api:Fagsystem"
    assert one.data["intake_event"] == intake.pk
    two = events["HT-2"]
    assert two.data["changed"] == ["unit", "payer", "recipient"]
    assert (two.data["before"]["unit"], two.data["after"]["unit"]) == ("HJT-NORD", "SOR")
    # A person is named only as changed: no national id in the trail.
    assert factories.FNR_OTHER not in str(two.data)
    assert factories.FNR_CLASSIC not in str(two.data)


def test_corrections_cost_the_same_for_few_and_many(kommune_a: Municipality) -> None:
    def queries(bases: list[dict[str, Any]]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            intake_bases(kommune_a, bases)
        return len(ctx.captured_queries)

    few, many = helpers.batch(3, prefix="A"), helpers.batch(200, prefix="B")
    intake_bases(kommune_a, few + many)
    for doc in few + many:
        doc["lines"][0]["description"] = "Rettet beskrivelse"
    assert queries(few) == queries(many)
    assert AuditEvent.objects.filter(action="invoice_basis.corrected").count() == 203


def test_approval_and_withdrawal_name_their_bases(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    received = [factories.basis(kommune_a, status="received") for _ in range(3)]  # type: ignore[arg-type]
    invoice_basis_approve(InvoiceBasis.objects.filter(pk__in=[b.pk for b in received]), merkantil_a)
    approve = AuditEvent.objects.get(action="invoice_basis.approve")
    assert set(approve.basis_links.values_list("basis_id", flat=True)) == {b.pk for b in received}
    invoice_basis_unapprove([received[0]], merkantil_a)
    unapprove = AuditEvent.objects.get(action="invoice_basis.unapprove")
    assert list(unapprove.basis_links.values_list("basis_id", flat=True)) == [received[0].pk]


def test_a_deleted_basis_keeps_its_events_but_not_its_links(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    basis = factories.basis(kommune_a, status="received")  # type: ignore[arg-type]
    invoice_basis_approve([basis], merkantil_a)
    invoice_basis_unapprove([basis], merkantil_a)
    invoice_basis_delete(basis, merkantil_a)
    assert not AuditedBasis.objects.exists()
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "invoice_basis.approve",
        "invoice_basis.unapprove",
        "invoice_basis.delete",
    }
