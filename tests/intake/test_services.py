"""Approval, withdrawal, deletion, credit notes and API tokens (invoices/services.py)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from invoices import state
from invoices.models import (
    ApiToken,
    AuditEvent,
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Service,
)
from invoices.services import (
    BasisActionError,
    api_token_authenticate,
    api_token_create,
    api_token_revoke,
    invoice_basis_approve,
    invoice_basis_credit,
    invoice_basis_delete,
    invoice_basis_unapprove,
)
from tests import factories

R = BasisStatus.RECEIVED


def received(m: Municipality, **kw: Any) -> InvoiceBasis:
    return factories.basis(m, status=R, **kw)


def test_approve_only_valid_received_bases(
    kommune_a: Municipality, merkantil_a: Any, services_a: dict[str, Service]
) -> None:
    good = received(kommune_a)
    no_address = received(
        kommune_a,
        payer=factories.party(kommune_a, factories.FNR_OTHER, address1="", postcode="", place=""),
    )
    bad = received(kommune_a, lines=[{"service": services_a["GML"]}])
    already = factories.basis(kommune_a, status=BasisStatus.EXPORTED)
    result = invoice_basis_approve(InvoiceBasis.objects.filter(municipality=kommune_a), merkantil_a)

    assert sorted(result.approved_ids) == sorted([good.pk, no_address.pk])
    assert result.warnings == 1  # the missing address does not block approval
    assert result.total_ore == good.total_ore + no_address.total_ore
    [invalid] = result.invalid
    assert invalid.basis_id == bad.pk
    assert [(i.field, i.code) for i in invalid.errors] == [
        ("lines[0].service_code", "service_not_billable")
    ]

    statuses = dict(InvoiceBasis.objects.values_list("pk", "status"))
    assert statuses == {
        good.pk: "approved",
        no_address.pk: "approved",
        bad.pk: "received",
        already.pk: "exported",
    }
    good.refresh_from_db()
    assert good.approved_by == merkantil_a and good.approved_at is not None
    event = AuditEvent.objects.get(action="invoice_basis.approve")
    assert event.actor == merkantil_a and event.data["approved"] == 2 and event.data["invalid"] == 1


def test_approval_rechecks_todays_catalogue(
    kommune_a: Municipality, merkantil_a: Any, services_a: dict[str, Service], settings: Any
) -> None:
    expired = received(
        kommune_a, lines=[{"service": services_a["PB"], "dimensions": {"gammel": "1"}}]
    )
    services_a["PB"].valid_to = datetime.date(2026, 9, 30)
    services_a["PB"].save(update_fields=["valid_to"])
    settings.ALLOW_SYNTHETIC_IDS = False
    result = invoice_basis_approve([expired], merkantil_a)
    assert result.approved == 0
    assert sorted(i.code for i in result.invalid[0].errors) == [
        "service_not_valid",
        "synthetic_id",
        "synthetic_id",  # payer and recipient
        "unknown_dimension",
    ]


def test_lines_that_disagree_with_the_total_block_approval(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    basis = received(kommune_a)
    InvoiceBasis.objects.filter(pk=basis.pk).update(total_ore=1)
    result = invoice_basis_approve([basis], merkantil_a)
    assert [i.code for i in result.invalid[0].errors] == ["total_mismatch"]


def test_approve_many_in_batches(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any, monkeypatch: Any
) -> None:
    from invoices import services

    monkeypatch.setattr(services, "BATCH", 3)
    bases = [received(kommune_a) for _ in range(8)]
    result = invoice_basis_approve(InvoiceBasis.objects.filter(municipality=kommune_a), merkantil_a)
    assert sorted(result.approved_ids) == sorted(b.pk for b in bases)


def test_approve_refuses_mixed_municipalities(
    kommune_a: Municipality, kommune_b: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    with pytest.raises(ValueError):
        invoice_basis_approve([received(kommune_a), received(kommune_b)], merkantil_a)
    assert invoice_basis_approve(InvoiceBasis.objects.none(), merkantil_a).approved == 0


def test_unapprove_until_exported(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    approved = factories.basis(kommune_a, status=BasisStatus.APPROVED)
    exported = factories.basis(kommune_a, status=BasisStatus.EXPORTED)
    assert invoice_basis_unapprove(InvoiceBasis.objects.all(), merkantil_a) == 1
    approved.refresh_from_db()
    exported.refresh_from_db()
    assert (approved.status, approved.approved_at, approved.approved_by) == (R, None, None)
    assert exported.status == BasisStatus.EXPORTED
    assert invoice_basis_unapprove([approved], merkantil_a) == 0
    assert AuditEvent.objects.filter(action="invoice_basis.unapprove").count() == 1


def test_delete_received_only(kommune_a: Municipality, merkantil_a: Any, services_a: Any) -> None:
    basis = received(kommune_a)
    invoice_basis_delete(basis, merkantil_a)
    assert not InvoiceBasis.objects.filter(pk=basis.pk).exists()
    assert not InvoiceLine.objects.filter(basis_id=basis.pk).exists()
    assert AuditEvent.objects.get(action="invoice_basis.delete").object_id == str(basis.pk)
    for status in (BasisStatus.APPROVED, BasisStatus.EXPORTED, BasisStatus.SENT):
        other = factories.basis(kommune_a, status=status)
        with pytest.raises(BasisActionError):
            invoice_basis_delete(other, merkantil_a)
        assert InvoiceBasis.objects.filter(pk=other.pk).exists()


def test_credit_an_exported_invoice(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    original = factories.basis(
        kommune_a,
        status=BasisStatus.SENT,
        source_reference="HT-1",
        lines=[
            {
                "quantity": "4.00",
                "unit_price_ore": 21500,
                "texts": ["a", "b"],
                "dimensions": {"ansvar": "3100"},
            },
            {"quantity": "0.5", "unit_price_ore": 10051},
        ],
    )
    credit = invoice_basis_credit(original, merkantil_a)
    assert (credit.kind, credit.status, credit.credits_id) == (BasisKind.CREDIT, R, original.pk)
    assert credit.source_reference == "HT-1-K1"
    assert (credit.period, credit.unit_id, credit.payer_id) == (
        original.period,
        original.unit_id,
        original.payer_id,
    )
    assert credit.total_ore == -original.total_ore == -(86000 + 5026)
    lines = list(
        credit.lines.order_by("line_no").values_list(
            "quantity", "unit_price_ore", "amount_ore", "texts", "dimensions"
        )
    )
    assert lines == [
        (Decimal("-4.00"), 21500, -86000, ["a", "b"], {"ansvar": "3100"}),
        (Decimal("-0.50"), 10051, -5026, ["4 timer praktisk bistand"], {}),
    ]
    assert AuditEvent.objects.get(action="invoice_basis.credit").data["credits"] == original.pk
    # a second click does not credit the citizen twice
    with pytest.raises(BasisActionError):
        invoice_basis_credit(original, merkantil_a)
    assert InvoiceBasis.objects.filter(kind=BasisKind.CREDIT).count() == 1


def test_credit_reference_avoids_taken_ones_and_stays_short(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    received(kommune_a, source_reference="HT-1-K1")
    original = factories.basis(kommune_a, status=BasisStatus.EXPORTED, source_reference="HT-1")
    assert invoice_basis_credit(original, merkantil_a).source_reference == "HT-1-K2"
    long = factories.basis(kommune_a, status=BasisStatus.EXPORTED, source_reference="L" * 64)
    credit = invoice_basis_credit(long, merkantil_a)
    assert credit.source_reference == "L" * 61 + "-K1"


@pytest.mark.parametrize(
    "status", [BasisStatus.RECEIVED, BasisStatus.APPROVED, BasisStatus.SENDING, BasisStatus.FAILED]
)
def test_credit_needs_an_exported_or_sent_invoice(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any, status: str
) -> None:
    basis = factories.basis(kommune_a, status=status)  # type: ignore[arg-type]
    with pytest.raises(BasisActionError):
        invoice_basis_credit(basis, merkantil_a)


def test_credit_notes_are_not_credited(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    original = factories.basis(kommune_a, status=BasisStatus.SENT)
    credit = factories.basis(
        kommune_a,
        status=BasisStatus.SENT,
        kind=BasisKind.CREDIT,
        credits=original,
        lines=[{"quantity": "-4.00"}],
    )
    with pytest.raises(BasisActionError):
        invoice_basis_credit(credit, merkantil_a)


def test_delete_refused_when_credit_notes_point_at_it(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    original = received(kommune_a)
    received(kommune_a, kind=BasisKind.CREDIT, credits=original, lines=[{"quantity": "-1.00"}])
    with pytest.raises(BasisActionError):
        invoice_basis_delete(original, merkantil_a)


def test_api_tokens(kommune_a: Municipality, admin_a: Any) -> None:
    token, plaintext = api_token_create(kommune_a, "  Fagsystem  ", admin_a)
    assert token.name == "Fagsystem" and token.created_by == admin_a
    assert plaintext.startswith("fgk_") and len(plaintext) > 40
    assert api_token_authenticate(plaintext) == token
    assert api_token_authenticate(plaintext + "x") is None
    assert api_token_authenticate("") is None
    event = AuditEvent.objects.get(action="api_token.create")
    assert plaintext not in str(event.data) and token.token_hash not in str(event.data)
    api_token_revoke(token, admin_a)
    api_token_revoke(token, admin_a)  # idempotent
    assert api_token_authenticate(plaintext) is None
    assert ApiToken.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1
    with pytest.raises(BasisActionError):
        api_token_create(kommune_a, " ", admin_a)


def test_unapprove_takes_back_failed_bases_only_when_the_receiver_refused_them(
    kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    refused = factories.basis(kommune_a, status=BasisStatus.SENDING)
    uncertain = factories.basis(kommune_a, status=BasisStatus.SENDING)
    # What a channel says: one refused by the receiver (nothing stored), one given up after
    # transient errors (the receiver may have it, so it must be sent again, not edited).
    state.mark_failed([refused.pk], refused=True)
    state.mark_failed([uncertain.pk])

    assert invoice_basis_unapprove(InvoiceBasis.objects.all(), merkantil_a) == 1

    refused.refresh_from_db()
    uncertain.refresh_from_db()
    assert (refused.status, refused.refused_by_receiver) == (BasisStatus.RECEIVED, False)
    assert uncertain.status == BasisStatus.FAILED
