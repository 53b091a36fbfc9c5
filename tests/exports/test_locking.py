"""Exported bases are locked: a second export needs a superbruker's override with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from exports.models import ExportItem, ExportProfile, ExportStatus
from exports.services import ExportError, export_create
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.exports.helpers import DIMS, read_visma, run_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def exported(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> InvoiceBasis:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = run_export(kommune_a, merkantil_a)
    assert export.status == ExportStatus.DONE
    basis.refresh_from_db()
    assert basis.status == BasisStatus.EXPORTED
    return basis


def test_exported_bases_are_not_in_the_next_export_of_the_period(
    kommune_a: Municipality, merkantil_a: Any, exported: InvoiceBasis
) -> None:
    again = run_export(kommune_a, merkantil_a)
    assert again.status == ExportStatus.REFUSED
    assert [f["code"] for f in again.errors] == ["empty_selection"]
    assert ExportItem.objects.filter(basis=exported).count() == 1


def test_naming_an_exported_basis_without_override_is_refused(
    kommune_a: Municipality, superbruker_a: Any, exported: InvoiceBasis
) -> None:
    again = run_export(kommune_a, superbruker_a, basis_ids=[exported.pk])
    assert again.status == ExportStatus.REFUSED
    assert [(f["code"], f["basis_pk"]) for f in again.errors] == [("already_exported", exported.pk)]


def test_merkantil_cannot_override(
    kommune_a: Municipality, merkantil_a: Any, exported: InvoiceBasis
) -> None:
    with pytest.raises(ExportError, match="superbruker"):
        export_create(
            kommune_a,
            period="2026-10",
            fmt="visma",
            basis_ids=[exported.pk],
            actor=merkantil_a,
            override_reason="Visma mistet filen",
            enqueue=False,
        )
    assert not AuditEvent.objects.filter(action="export.override").exists()


def test_override_needs_a_reason(
    kommune_a: Municipality, superbruker_a: Any, exported: InvoiceBasis
) -> None:
    with pytest.raises(ExportError, match="begrunnelse"):
        export_create(
            kommune_a,
            period="2026-10",
            fmt="visma",
            basis_ids=[exported.pk],
            actor=superbruker_a,
            override_reason="   ",
            enqueue=False,
        )


def test_superbruker_override_with_reason_exports_again_and_is_audited(
    kommune_a: Municipality, superbruker_a: Any, exported: InvoiceBasis
) -> None:
    export = run_export(
        kommune_a,
        superbruker_a,
        basis_ids=[exported.pk],
        override_reason="Importen i Visma feilet, filen må sendes på nytt",
    )

    assert export.status == ExportStatus.DONE, (export.failure, export.findings)
    assert export.override and export.override_reason.startswith("Importen")
    assert [line.order_ref for line in read_visma(export).lines] == [exported.reference]
    assert InvoiceBasis.objects.get(pk=exported.pk).status == BasisStatus.EXPORTED
    assert ExportItem.objects.filter(basis=exported).count() == 2
    event = AuditEvent.objects.get(action="export.override")
    assert event.actor_id == superbruker_a.pk
    assert event.data["reason"] == "Importen i Visma feilet, filen må sendes på nytt"
    assert event.data["basis_ids"] == [exported.pk]


def test_roles_without_billing_rights_cannot_export(
    kommune_a: Municipality, admin_a: Any, merkantil_b: Any, visma_profile: ExportProfile
) -> None:
    for actor in (admin_a, merkantil_b, None):
        with pytest.raises(ExportError):
            export_create(kommune_a, period="2026-10", fmt="visma", actor=actor, enqueue=False)


def test_only_superbruker_makes_test_files(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    with pytest.raises(ExportError, match="testfiler"):
        export_create(
            kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, is_test=True, enqueue=False
        )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"period": "2026-13"}, "ÅÅÅÅ-MM"),
        ({"fmt": "excel"}, "filformat"),
        ({"layout": "wide"}, "Varianten"),
        ({"basis_ids": []}, "minst ett"),
        ({"basis_ids": ["x"]}, "Ugyldig"),
    ],
)
def test_bad_requests_get_a_clear_norwegian_answer(
    kommune_a: Municipality,
    merkantil_a: Any,
    visma_profile: ExportProfile,
    kw: dict[str, Any],
    message: str,
) -> None:
    args: dict[str, Any] = {"period": "2026-10", "fmt": "visma", **kw}
    with pytest.raises(ExportError, match=message):
        export_create(kommune_a, actor=merkantil_a, enqueue=False, **args)


def test_unit_of_another_municipality_is_unknown(
    kommune_a: Municipality, kommune_b: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    with pytest.raises(ExportError, match="Ukjent enhet"):
        export_create(
            kommune_a,
            period="2026-10",
            fmt="visma",
            unit=factories.unit(kommune_b),
            actor=merkantil_a,
            enqueue=False,
        )


def test_bases_of_another_municipality_cannot_be_named(
    kommune_a: Municipality,
    kommune_b: Municipality,
    superbruker_a: Any,
    visma_profile: ExportProfile,
) -> None:
    theirs = factories.basis(kommune_b, lines=[{}])
    export = run_export(kommune_a, superbruker_a, basis_ids=[theirs.pk])
    assert export.status == ExportStatus.REFUSED
    assert [f["code"] for f in export.errors] == ["unknown_basis"]
    assert InvoiceBasis.objects.get(pk=theirs.pk).status == BasisStatus.APPROVED
