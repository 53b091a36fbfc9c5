"""The intake writer: all-or-nothing, idempotent, bulk (spec/intake.md "Answers")."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invoices.intake import (
    IntakeConflict,
    IntakeForbidden,
    IntakeRejected,
    intake_bases,
    intake_document,
)
from invoices.models import (
    ApiToken,
    AuditEvent,
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Party,
    Unit,
)
from tests import factories
from tests.intake import helpers

pytestmark = pytest.mark.usefixtures("services_a")


def stored(m: Municipality) -> dict[str, InvoiceBasis]:
    return {b.source_reference: b for b in InvoiceBasis.objects.filter(municipality=m)}


def test_valid_batch_is_stored_with_totals(kommune_a: Municipality) -> None:
    bases = helpers.batch(3)
    bases[1]["lines"] = [helpers.line(), helpers.line("TA", "1.00", 30000)]
    result = intake_bases(kommune_a, bases)
    assert result.as_response() == {"created": 3, "updated": 0, "unchanged": 0}
    rows = stored(kommune_a)
    assert set(rows) == {"HT-000001", "HT-000002", "HT-000003"}
    two = rows["HT-000002"]
    assert (two.total_ore, two.line_count, two.status) == (116000, 2, BasisStatus.RECEIVED)
    lines = list(two.lines.order_by("line_no"))
    assert [(ln.line_no, ln.service.code, ln.amount_ore) for ln in lines] == [
        (1, "PB", 86000),
        (2, "TA", 30000),
    ]
    assert lines[0].texts == ["4 timer praktisk bistand"]
    assert lines[0].dimensions == {"ansvar": "3100"}
    assert str(lines[0].quantity) == "4.00"
    assert lines[0].service_from == datetime.date(2026, 10, 1)
    assert len(two.content_hash) == 64
    assert two.received_at is not None and two.updated_at is not None
    assert two.recipient_id == two.payer_id
    assert (
        Unit.objects.get(municipality=kommune_a, code="HJT-NORD").name
        == "Hjemmetjenesten sone nord"
    )
    event = AuditEvent.objects.get(action="invoice_basis.intake")
    assert event.data["created"] == 3


def test_same_batch_again_stores_nothing_new(kommune_a: Municipality) -> None:
    bases = helpers.batch(5)
    intake_bases(kommune_a, bases)
    before = (
        list(InvoiceBasis.objects.values_list("pk", "content_hash", "updated_at").order_by("pk")),
        list(InvoiceLine.objects.values_list("pk", flat=True).order_by("pk")),
        Party.objects.count(),
    )
    result = intake_bases(kommune_a, bases)
    assert result.as_response() == {"created": 0, "updated": 0, "unchanged": 5}
    after = (
        list(InvoiceBasis.objects.values_list("pk", "content_hash", "updated_at").order_by("pk")),
        list(InvoiceLine.objects.values_list("pk", flat=True).order_by("pk")),
        Party.objects.count(),
    )
    assert after == before


def test_changed_basis_before_approval_is_updated(kommune_a: Municipality) -> None:
    intake_bases(kommune_a, [helpers.basis("HT-1", lines=[helpers.line(), helpers.line()])])
    original = InvoiceBasis.objects.get(source_reference="HT-1")
    corrected = helpers.basis("HT-1", lines=[helpers.line(quantity="2.00")])
    result = intake_bases(kommune_a, [corrected, helpers.basis("HT-2")])
    assert result.as_response() == {"created": 1, "updated": 1, "unchanged": 0}
    assert result.updated_references == ["HT-1"]
    basis = InvoiceBasis.objects.get(source_reference="HT-1")
    assert basis.pk == original.pk  # the reference sent to accounting never changes
    assert (basis.total_ore, basis.line_count) == (43000, 1)
    assert basis.content_hash != original.content_hash
    assert list(basis.lines.values_list("line_no", "amount_ore")) == [(1, 43000)]


@pytest.mark.parametrize(
    "status",
    [
        BasisStatus.APPROVED,
        BasisStatus.EXPORTED,
        BasisStatus.SENDING,
        BasisStatus.SENT,
        BasisStatus.FAILED,
    ],
)
def test_changed_basis_after_approval_is_a_conflict(kommune_a: Municipality, status: str) -> None:
    intake_bases(kommune_a, [helpers.basis("HT-1"), helpers.basis("HT-2")])
    InvoiceBasis.objects.filter(source_reference="HT-2").update(status=status)
    snapshot = list(InvoiceLine.objects.values_list("pk", "amount_ore").order_by("pk"))
    with pytest.raises(IntakeConflict) as caught:
        intake_bases(
            kommune_a,
            [
                helpers.basis("HT-3"),
                helpers.basis("HT-2", lines=[helpers.line(quantity="1.00")]),
            ],
        )
    assert caught.value.status == 409
    assert caught.value.references == ["HT-2"]
    error = caught.value.errors[0]
    assert (error.index, error.field, error.code) == (
        1,
        "source_reference",
        "changed_after_approval",
    )
    assert "kreditnota" in error.message
    # nothing from the request was stored, not even the new basis
    assert not InvoiceBasis.objects.filter(source_reference="HT-3").exists()
    assert list(InvoiceLine.objects.values_list("pk", "amount_ore").order_by("pk")) == snapshot
    # the same content again is a safe retry even after approval
    assert intake_bases(kommune_a, [helpers.basis("HT-2")]).unchanged == 1


def test_one_bad_record_among_a_thousand_stores_nothing(kommune_a: Municipality) -> None:
    bases = helpers.batch(1000)
    bases[637]["lines"][0]["amount_ore"] += 1
    with pytest.raises(IntakeRejected) as caught:
        intake_bases(kommune_a, bases)
    [error] = caught.value.errors
    assert error.as_dict() == {
        "index": 637,
        "source_reference": "HT-000638",
        "field": "lines[0].amount_ore",
        "code": "amount_mismatch",
        "message": "Beløpet skal være 86000 øre (antall × enhetspris, avrundet til hele øre),"
        " ikke 86001",
    }
    assert InvoiceBasis.objects.count() == 0
    assert InvoiceLine.objects.count() == 0
    assert Party.objects.count() == 0
    assert not Unit.objects.filter(municipality=kommune_a).exists()


def test_parties_are_one_per_identifier_and_kept_current(kommune_a: Municipality) -> None:
    org = {
        "org_number": factories.ORGNR,
        "name": "Omsorg AS",
        "address1": "Postboks 1",
        "postcode": "9999",
        "place": "Testbygd",
    }
    first = [
        helpers.basis("HT-1"),
        helpers.basis(
            "HT-2",
            payer_obj=org,
            recipient={"national_id": factories.FNR_CLASSIC, "name": "Kari N."},
        ),
    ]
    result = intake_bases(kommune_a, first)
    assert result.parties_created == 2
    kari = Party.objects.get(national_id=factories.FNR_CLASSIC)
    # The payer object of HT-1 carries the address; the recipient object in HT-2 only the name.
    assert (kari.name, kari.address1) == ("Kari N.", "Eksempelveien 1")
    assert Party.objects.get(org_number=factories.ORGNR).national_id == ""
    b2 = InvoiceBasis.objects.get(source_reference="HT-2")
    assert (b2.payer.org_number, b2.recipient_id) == (factories.ORGNR, kari.pk)

    moved = helpers.basis("HT-3", payer_obj=helpers.payer(address1="Nyveien 2", place="Nyby"))
    result = intake_bases(kommune_a, [moved])
    assert (result.parties_created, result.parties_updated) == (0, 1)
    kari.refresh_from_db()
    assert (kari.name, kari.address1, kari.place) == ("Kari Nordmann", "Nyveien 2", "Nyby")
    assert Party.objects.filter(national_id=factories.FNR_CLASSIC).count() == 1


def test_parties_and_units_are_per_municipality(
    kommune_a: Municipality, kommune_b: Municipality, services_b: Any
) -> None:
    intake_bases(kommune_a, [helpers.basis("HT-1")])
    intake_bases(kommune_b, [helpers.basis("HT-1", unit={"code": "HJT-NORD", "name": "Nord B"})])
    assert Party.objects.filter(national_id=factories.FNR_CLASSIC).count() == 2
    assert (
        Unit.objects.get(municipality=kommune_a, code="HJT-NORD").name
        == "Hjemmetjenesten sone nord"
    )
    assert Unit.objects.get(municipality=kommune_b, code="HJT-NORD").name == "Nord B"
    assert InvoiceBasis.objects.filter(source_reference="HT-1").count() == 2


def test_units_created_on_first_use_and_renamed(kommune_a: Municipality) -> None:
    result = intake_bases(
        kommune_a, [helpers.basis("HT-1", unit={"code": "NY", "name": "Ny enhet"})]
    )
    assert result.units_created == 1
    intake_bases(kommune_a, [helpers.basis("HT-2", unit={"code": "NY", "name": "Nytt navn"})])
    assert Unit.objects.get(municipality=kommune_a, code="NY").name == "Nytt navn"
    intake_bases(kommune_a, [helpers.basis("HT-3", unit={"code": "KODE"})])
    assert Unit.objects.get(municipality=kommune_a, code="KODE").name == "KODE"


def test_credit_for_an_invoice_in_the_same_request(kommune_a: Municipality) -> None:
    credit = helpers.credit("K-1", "HT-1", lines=[helpers.line(quantity="-1.50")])
    result = intake_bases(kommune_a, [helpers.basis("HT-1"), credit])
    assert result.created == 2
    rows = stored(kommune_a)
    assert rows["K-1"].kind == BasisKind.CREDIT
    assert rows["K-1"].credits_id == rows["HT-1"].pk
    assert rows["K-1"].total_ore == -32250


def test_credit_for_a_stored_invoice_and_update_of_a_credit(kommune_a: Municipality) -> None:
    intake_bases(kommune_a, [helpers.basis("HT-1")])
    InvoiceBasis.objects.filter(source_reference="HT-1").update(status=BasisStatus.SENT)
    intake_bases(kommune_a, [helpers.credit("K-1", "HT-1")])
    result = intake_bases(
        kommune_a, [helpers.credit("K-1", "HT-1", lines=[helpers.line(quantity="-1.00")])]
    )
    assert result.updated == 1
    credit = InvoiceBasis.objects.get(source_reference="K-1")
    assert credit.credits is not None
    assert (credit.total_ore, credit.credits.source_reference) == (-21500, "HT-1")


def test_duplicate_reference_in_one_request_stores_nothing(kommune_a: Municipality) -> None:
    with pytest.raises(IntakeRejected) as caught:
        intake_bases(kommune_a, [helpers.basis("HT-1"), helpers.basis("HT-1")])
    assert [(e.index, e.code) for e in caught.value.errors] == [(1, "duplicate_reference")]
    assert not InvoiceBasis.objects.exists()


def test_file_chunks_number_errors_from_the_start_of_the_file(kommune_a: Municipality) -> None:
    bases = helpers.batch(3)
    bases[2]["period"] = "2026-13"
    with pytest.raises(IntakeRejected) as caught:
        intake_bases(kommune_a, bases, index_offset=5000, earlier_references={"HT-000001"})
    assert [(e.index, e.code) for e in caught.value.errors] == [
        (5000, "duplicate_reference"),
        (5002, "invalid_format"),
    ]


def test_constant_number_of_queries(kommune_a: Municipality) -> None:
    def queries(bases: list[dict[str, Any]]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            intake_bases(kommune_a, bases)
        return len(ctx.captured_queries)

    intake_bases(kommune_a, [helpers.basis("WARM-UP")])  # the unit exists from here on
    few = queries(helpers.batch(3, prefix="A"))
    many = queries(helpers.batch(300, prefix="B"))
    assert few == many
    # an unchanged re-run only reads
    with CaptureQueriesContext(connection) as ctx:
        intake_bases(kommune_a, helpers.batch(300, prefix="B"))
    writes = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].split()[0].upper() in {"INSERT", "UPDATE", "DELETE", "COPY"}
        and "invoices_auditevent" not in q["sql"]
    ]
    assert writes == []


def test_document_checks(kommune_a: Municipality, kommune_b: Municipality, settings: Any) -> None:
    token = ApiToken.objects.create(
        municipality=kommune_b, name="B", token_hash="x" * 64, prefix="fgk_xxxx"
    )
    with pytest.raises(IntakeForbidden):
        intake_document(helpers.document([helpers.basis()]), token=token)
    cases = [
        ([], "invalid_type"),
        ({"invoice_bases": []}, "required"),
        ({"municipality": 9999, "invoice_bases": []}, "invalid_type"),
        ({"municipality": "1234", "invoice_bases": []}, "unknown_municipality"),
        ({"municipality": "9999"}, "required"),
        ({"municipality": "9999", "invoice_bases": {}}, "invalid_type"),
        ({"municipality": "9999", "invoice_bases": [], "x": 1}, "unknown_field"),
    ]
    for document, code in cases:
        with pytest.raises(IntakeRejected) as caught:
            intake_document(document)
        assert caught.value.errors[0].code == code, document
    settings.INTAKE_MAX_BASES_PER_REQUEST = 2  # read at import; the module constant is what counts
    from invoices import intake

    intake.CHUNK_SIZE, old = 2, intake.CHUNK_SIZE
    try:
        with pytest.raises(IntakeRejected) as caught:
            intake_document(helpers.document(helpers.batch(3)))
        assert caught.value.errors[0].code == "too_many_bases"
    finally:
        intake.CHUNK_SIZE = old
    assert intake_document(helpers.document([])).as_response() == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
    }


def test_an_invoice_with_credit_notes_keeps_its_payer(kommune_a: Municipality) -> None:
    intake_bases(kommune_a, [helpers.basis("HT-1"), helpers.credit("K-1", "HT-1")])
    other_payer = helpers.basis("HT-1", payer_obj=helpers.payer(factories.FNR_OTHER))
    with pytest.raises(IntakeConflict) as caught:
        intake_bases(kommune_a, [other_payer])
    assert [(e.code, e.field) for e in caught.value.errors] == [("has_credit_notes", "payer")]
    # other corrections of the received invoice are still fine
    fewer = helpers.basis("HT-1", lines=[helpers.line(quantity="5.00")])
    assert intake_bases(kommune_a, [fewer]).updated == 1
