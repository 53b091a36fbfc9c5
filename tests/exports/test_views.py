"""Export pages: who may do what, tenants kept apart, downloads byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from aidn_billing.celery import app as celery_app
from exports.models import Export, ExportProfile, ExportStatus
from exports.run import export_run as run_export_by_pk
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.exports.helpers import DIMS, file_bytes, run_export, sha256_of

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def eager_celery() -> Iterator[None]:
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def done_export(kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile) -> Export:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = run_export(kommune_a, merkantil_a)
    assert export.status == ExportStatus.DONE
    return export


def _body(response: Any) -> str:
    return response.content.decode()


def test_invoice_list_offers_the_export_to_billing_roles_only(
    kommune_a: Municipality, merkantil_a: Any, admin_a: Any, visma_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    url = reverse("invoices:list") + "?period=2026-10"
    assert reverse("exports:preview") in _body(client_for(merkantil_a).get(url))
    assert reverse("exports:preview") not in _body(client_for(admin_a).get(url))


def test_preview_shows_what_will_go(
    kommune_a: Municipality, merkantil_a: Any, admin_a: Any, visma_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"quantity": "4", "unit_price_ore": 21500}])
    factories.basis(kommune_a, lines=[{"quantity": "1", "unit_price_ore": 10000}])
    factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    url = reverse("exports:preview") + "?period=2026-10"

    body = _body(client_for(merkantil_a).get(url))

    assert "2 godkjente grunnlag, 960,00\xa0kr" in body
    assert "Last ned eksportfil" in body
    assert client_for(admin_a).get(url).status_code == 403


def test_start_runs_the_export_and_lands_on_its_page(
    kommune_a: Municipality,
    merkantil_a: Any,
    visma_profile: ExportProfile,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    client = client_for(merkantil_a)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("exports:start"), {"period": "2026-10", "format": "visma"})

    export = Export.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("exports:detail", args=[export.pk])
    assert export.status == ExportStatus.DONE
    assert InvoiceBasis.objects.get(pk=basis.pk).status == BasisStatus.EXPORTED
    page = _body(client.get(response["Location"]))
    assert export.file_name in page and export.sha256 in page
    assert reverse("exports:download", args=[export.pk]) in page


def test_start_with_bad_input_explains_instead_of_failing(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    client = client_for(merkantil_a)
    response = client.post(reverse("exports:start"), {"period": "2026-13", "format": "visma"})
    assert response.status_code == 302
    response = client.post(
        reverse("exports:start"), {"period": "2026-10", "format": "visma", "unit": "NOPE"}
    )
    assert response.status_code == 302
    assert not Export.objects.exists()


def test_progress_fragment_polls_until_finished_then_reloads(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    from exports.run import export_run
    from exports.services import export_create

    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )
    client = client_for(merkantil_a)
    url = reverse("exports:progress", args=[export.pk])

    queued = client.get(url, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in _body(queued)
    assert "HX-Refresh" not in queued

    export_run(export.pk)
    finished = client.get(url, HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true"
    assert "hx-trigger" not in _body(finished)


def test_refused_report_lists_errors_per_basis_with_links(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    unmapped = factories.service(kommune_a, "UKJENT", visma_vare="")
    bad = factories.basis(kommune_a, lines=[{"service": unmapped}])
    export = run_export(kommune_a, merkantil_a)
    assert export.status == ExportStatus.REFUSED

    body = _body(client_for(merkantil_a).get(reverse("exports:detail", args=[export.pk])))

    assert reverse("invoices:detail", args=[bad.pk]) in body
    assert bad.reference in body
    assert "Ingen fil er laget" in body


def test_download_gives_the_same_bytes_every_time(
    done_export: Export, merkantil_a: Any, superbruker_a: Any
) -> None:
    url = reverse("exports:download", args=[done_export.pk])
    first = client_for(merkantil_a).get(url)
    second = client_for(superbruker_a).get(url)

    assert first.status_code == second.status_code == 200
    one, two = first.getvalue(), second.getvalue()
    assert one == two == file_bytes(done_export)
    assert sha256_of(one) == done_export.sha256 == first["X-Content-SHA256"]
    assert done_export.file_name in first["Content-Disposition"]
    assert first["Cache-Control"] == "no-store, private"
    assert AuditEvent.objects.filter(action="export.downloaded").count() == 2


def test_a_changed_file_is_never_served(done_export: Export, merkantil_a: Any) -> None:
    path = Path(done_export.file.path)
    path.write_bytes(path.read_bytes().replace(b"FL", b"FX", 1))

    response = client_for(merkantil_a).get(reverse("exports:download", args=[done_export.pk]))

    assert response.status_code == 409
    assert "SHA-256" in _body(response)
    assert AuditEvent.objects.filter(action="export.integrity_failed").exists()


def test_a_missing_file_is_never_served(done_export: Export, merkantil_a: Any) -> None:
    Path(done_export.file.path).unlink()
    response = client_for(merkantil_a).get(reverse("exports:download", args=[done_export.pk]))
    assert response.status_code == 409


def test_another_municipality_sees_404_everywhere(done_export: Export, merkantil_b: Any) -> None:
    client = client_for(merkantil_b)
    for name in ("detail", "progress", "download", "download_customers"):
        assert client.get(reverse(f"exports:{name}", args=[done_export.pk])).status_code == 404
    assert done_export.file_name not in _body(client.get(reverse("exports:history")))


def test_no_download_of_an_unfinished_export(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    from exports.services import export_create

    export = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )
    response = client_for(merkantil_a).get(reverse("exports:download", args=[export.pk]))
    assert response.status_code == 409


# URL × persona → status (promises 4 and 5). 302 for anonymous is the login redirect.
PERMISSIONS = {
    "history": {"admin_a": 403, "merkantil_a": 200, "superbruker_a": 200, "anonymous": 302},
    "override": {"admin_a": 403, "merkantil_a": 403, "superbruker_a": 200, "anonymous": 302},
    "profile": {"admin_a": 200, "merkantil_a": 403, "superbruker_a": 403, "anonymous": 302},
    "preview": {"admin_a": 403, "merkantil_a": 200, "superbruker_a": 200, "anonymous": 302},
    "detail": {"admin_a": 403, "merkantil_a": 200, "superbruker_a": 200, "anonymous": 302},
    "download": {"admin_a": 403, "merkantil_a": 200, "superbruker_a": 200, "anonymous": 302},
}


@pytest.mark.parametrize("name", sorted(PERMISSIONS))
def test_permission_matrix(name: str, personas: dict[str, Any], done_export: Export) -> None:
    args = [done_export.pk] if name in {"detail", "download"} else []
    url = reverse(f"exports:{name}", args=args)
    for persona, expected in PERMISSIONS[name].items():
        response = client_for(personas[persona]).get(url)
        assert response.status_code == expected, (name, persona, response.status_code)


def test_systemadministrator_cannot_start_an_export(
    kommune_a: Municipality, admin_a: Any, visma_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    response = client_for(admin_a).post(
        reverse("exports:start"), {"period": "2026-10", "format": "visma"}
    )
    assert response.status_code == 403
    assert not Export.objects.exists()


def test_history_lists_exports_with_their_facts(done_export: Export, superbruker_a: Any) -> None:
    body = _body(client_for(superbruker_a).get(reverse("exports:history")))
    for fact in (done_export.file_name, done_export.sha256[:16], "merkantil_a", "2026-10"):
        assert fact in body


def test_basis_page_lists_its_exports(done_export: Export, merkantil_a: Any) -> None:
    basis = done_export.items.get().basis
    body = _body(client_for(merkantil_a).get(reverse("invoices:detail", args=[basis.pk])))
    assert done_export.file_name in body
    assert reverse("exports:detail", args=[done_export.pk]) in body


def test_menu_links_follow_the_role(merkantil_a: Any, admin_a: Any) -> None:
    merkantil_page = _body(client_for(merkantil_a).get(reverse("invoices:list")))
    admin_page = _body(client_for(admin_a).get(reverse("invoices:list")))
    history = f'href="{reverse("exports:history")}"'
    profile = f'href="{reverse("exports:profile")}"'
    assert history in merkantil_page and profile not in merkantil_page
    assert profile in admin_page and history not in admin_page


def test_override_form_requires_a_reason_and_then_exports(
    done_export: Export, superbruker_a: Any, merkantil_a: Any
) -> None:
    basis = done_export.items.get().basis
    client = client_for(superbruker_a)
    url = reverse("exports:override")

    form_page = client.get(url + f"?grunnlag={basis.pk}")
    assert basis.reference in _body(form_page)

    missing = client.post(url, {"references": basis.reference, "format": "visma", "reason": " "})
    assert missing.status_code == 200
    assert Export.objects.count() == 1

    assert (
        client_for(merkantil_a)
        .post(url, {"references": basis.reference, "format": "visma", "reason": "x"})
        .status_code
        == 403
    )

    done = client.post(
        url, {"references": basis.reference, "format": "visma", "reason": "Visma mistet filen"}
    )
    export = Export.objects.exclude(pk=done_export.pk).get()
    assert done.status_code == 302
    assert export.override and export.basis_ids == [basis.pk]


@pytest.fixture
def exported_in_b(kommune_b: Municipality) -> InvoiceBasis:
    """A real, exported basis of kommune B with a payer only B has: what a leak would show."""
    payer = factories.party(kommune_b, factories.FNR_OTHER, name="Nabo Nabosen")
    return factories.basis(kommune_b, payer=payer, status=BasisStatus.EXPORTED)


def test_override_form_rejects_references_of_another_municipality(
    done_export: Export, superbruker_a: Any, exported_in_b: InvoiceBasis
) -> None:
    client = client_for(superbruker_a)
    url = reverse("exports:override")
    form = {"format": "visma", "reason": "test"}
    # B's full reference: refused by its prefix.
    response = client.post(url, {**form, "references": exported_in_b.reference})
    assert response.status_code == 200
    assert f"«{exported_in_b.reference}» er ikke en referanse i denne kommunen" in _body(response)
    # B's basis by its bare number: not found in A, as if it did not exist.
    response = client.post(url, {**form, "references": str(exported_in_b.pk)})
    assert response.status_code == 200
    assert "Fant ikke grunnlagene." in _body(response)
    assert Export.objects.count() == 1


def test_override_with_a_foreign_number_is_refused_as_unknown(
    done_export: Export, superbruker_a: Any, exported_in_b: InvoiceBasis
) -> None:
    """A's reference beside B's bare number: A's view finds a period and asks for the export, and
    the run refuses it, naming the number as unknown. B's basis is never read into A's export."""
    own = done_export.items.get().basis
    response = client_for(superbruker_a).post(
        reverse("exports:override"),
        {"format": "visma", "reason": "test", "references": f"{own.reference} {exported_in_b.pk}"},
    )
    assert response.status_code == 302
    export = run_export_by_pk(Export.objects.exclude(pk=done_export.pk).get().pk)
    assert export.basis_ids == sorted([own.pk, exported_in_b.pk])
    assert export.status == ExportStatus.REFUSED
    assert [(f["code"], f["basis_pk"]) for f in export.findings] == [("unknown_basis", None)]
    assert exported_in_b.reference not in str(export.findings)
    assert not export.file
    assert not exported_in_b.export_items.exists()
    exported_in_b.refresh_from_db()
    assert exported_in_b.status == BasisStatus.EXPORTED
