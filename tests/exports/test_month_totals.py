"""The month's totals (invoices/summaries.py) stay equal to what the rows say, through every write
that changes bases: intake (new, corrected, credit notes), approval and withdrawal, deletion,
credit notes made in the product (whole or in part), a file export and a Visma transfer's
outcomes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exports.models import ExportProfile
from invoices import state
from invoices.credit import invoice_basis_credit_lines
from invoices.intake import intake_bases
from invoices.models import (
    BasisStatus,
    InvoiceBasis,
    Municipality,
    ServiceMonthTotal,
)
from invoices.services import (
    invoice_basis_approve,
    invoice_basis_credit,
    invoice_basis_delete,
    invoice_basis_unapprove,
)
from tests import factories
from tests.exports.helpers import run_export
from tests.intake import helpers
from tests.month_totals import by_status, no_drift

pytestmark = pytest.mark.django_db

PERIOD = helpers.PERIOD
SOUTH = {"code": "HJT-SOR", "name": "Hjemmetjenesten sone sør"}


def test_every_write_keeps_the_totals(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    services = helpers.catalogue(kommune_a)
    ta = [helpers.line("TA", quantity="1.00", unit_price_ore=30000)]
    two_services = [helpers.line(), helpers.line("TA", quantity="1.00", unit_price_ore=30000)]
    docs = [
        helpers.basis("A1"),
        helpers.basis("A2", lines=two_services, payer_obj=helpers.payer(factories.FNR_OTHER)),
        helpers.basis("A3", unit=SOUTH, lines=ta, payer_obj=helpers.payer(factories.DNR)),
        helpers.basis("A4", unit=SOUTH),
        helpers.basis("A5", period="2026-09"),
    ]
    intake_bases(kommune_a, docs)
    no_drift(kommune_a)
    assert by_status(kommune_a) == {"received": (4, 86000 + 86000 + 30000 + 30000 + 86000)}

    # A correction of a received basis: another unit, another service, another amount.
    intake_bases(kommune_a, [helpers.basis("A1", unit=SOUTH, lines=ta)])
    no_drift(kommune_a)

    ids = dict(InvoiceBasis.objects.values_list("source_reference", "pk"))
    approved = invoice_basis_approve(InvoiceBasis.objects.filter(period=PERIOD), merkantil_a)
    assert approved.approved == 4
    no_drift(kommune_a)
    invoice_basis_unapprove(InvoiceBasis.objects.filter(pk=ids["A4"]), merkantil_a)
    invoice_basis_delete(InvoiceBasis.objects.get(pk=ids["A4"]), merkantil_a)
    no_drift(kommune_a)

    export = run_export(kommune_a, merkantil_a, basis_ids=[ids["A1"], ids["A2"]])
    assert export.status == "done", export.findings
    no_drift(kommune_a)
    credit = invoice_basis_credit(InvoiceBasis.objects.get(pk=ids["A1"]), merkantil_a)
    no_drift(kommune_a)
    # A credit note for part of one line of A2.
    invoice_basis_credit_lines(
        InvoiceBasis.objects.get(pk=ids["A2"]),
        {2: Decimal("0.50")},
        reason="Del",
        actor=merkantil_a,
    )
    no_drift(kommune_a)

    # What the Visma channel says of a transfer: sending, then one sent and one refused.
    state.mark_sending([ids["A3"]])
    no_drift(kommune_a)
    state.mark_failed([ids["A3"]], refused=True)
    state.take_back([ids["A3"]])
    no_drift(kommune_a)
    # A credit note for a stored invoice, through the intake.
    intake_bases(
        kommune_a, [helpers.credit("A2-K", "A2", payer_obj=helpers.payer(factories.FNR_OTHER))]
    )
    no_drift(kommune_a)

    totals = by_status(kommune_a)
    assert totals["exported"] == (2, 30000 + 86000 + 30000)
    assert totals["received"][0] == 4  # A3 taken back, the three credit notes
    assert credit.status == BasisStatus.RECEIVED
    # Per service across units: TA's lines on A1 (exported) and A2 (exported) and A3 (received).
    ta_service = services["TA"]
    ta_rows = ServiceMonthTotal.objects.filter(service=ta_service, period=PERIOD)
    assert sum(r.bases for r in ta_rows if r.status == "exported") == 2
