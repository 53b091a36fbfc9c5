"""Approval pages, validation report, basis actions and API keys: roles and tenants
(reliability.md promises 4 and 5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from invoices import views
from invoices.models import ApiToken, BasisKind, BasisStatus, InvoiceBasis, Municipality, Role
from invoices.services import api_token_create
from tests import factories

pytestmark = pytest.mark.usefixtures("services_a")


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def lesetilgang_a(kommune_a: Municipality) -> Any:
    return factories.user("lese_a", kommune_a, Role.LESETILGANG)


@pytest.fixture
def admin_b(kommune_b: Municipality) -> Any:
    return factories.user("admin_b", kommune_b, Role.SYSTEMADMINISTRATOR)


def basis_actions(pk: int) -> list[str]:
    return [
        reverse(f"invoices:{name}", args=[pk])
        for name in ("approve", "unapprove", "delete", "credit")
    ]


def test_other_tenant_gets_404_for_detail_and_every_action(
    client: Client, kommune_a: Municipality, merkantil_b: Any
) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    sent = factories.basis(kommune_a, status=BasisStatus.SENT)
    login(client, merkantil_b)
    assert client.get(reverse("invoices:detail", args=[basis.pk])).status_code == 404
    for url in basis_actions(basis.pk) + basis_actions(sent.pk):
        assert client.post(url).status_code == 404, url
    basis.refresh_from_db()
    assert basis.status == BasisStatus.RECEIVED
    assert InvoiceBasis.objects.count() == 2


def test_period_actions_only_touch_the_own_municipality(
    client: Client,
    kommune_a: Municipality,
    kommune_b: Municipality,
    merkantil_b: Any,
    services_b: Any,
) -> None:
    a = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    b = factories.basis(kommune_b, status=BasisStatus.RECEIVED)
    login(client, merkantil_b)
    client.post(reverse("invoices:period_approve"), {"period": "2026-10"})
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (BasisStatus.RECEIVED, BasisStatus.APPROVED)
    report = client.get(reverse("invoices:validation_report"), {"period": "2026-10", "vis": "alle"})
    assert a.source_reference not in report.content.decode()


@pytest.mark.parametrize("persona", ["admin_a", "lesetilgang_a"])
def test_roles_without_billing_cannot_approve(
    client: Client, kommune_a: Municipality, persona: str, request: Any
) -> None:
    user = request.getfixturevalue(persona)
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    login(client, user)
    for url in basis_actions(basis.pk):
        assert client.post(url).status_code == 403
    assert client.post(reverse("invoices:period_approve"), {"period": "2026-10"}).status_code == 403
    assert (
        client.post(reverse("invoices:period_unapprove"), {"period": "2026-10"}).status_code == 403
    )
    assert (
        client.get(reverse("invoices:validation_report"), {"period": "2026-10"}).status_code == 403
    )
    assert (
        client.get(reverse("invoices:validation_summary"), {"period": "2026-10"}).status_code == 403
    )
    page = client.get(reverse("invoices:detail", args=[basis.pk])).content.decode()
    assert reverse("invoices:approve", args=[basis.pk]) not in page
    basis.refresh_from_db()
    assert basis.status == BasisStatus.RECEIVED


def test_anonymous_is_sent_to_login(client: Client, kommune_a: Municipality) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    for url in [*basis_actions(basis.pk), reverse("invoices:period_approve")]:
        response = client.post(url)
        assert response.status_code == 302 and "/logg-inn/" in response["Location"]
    assert client.get(reverse("api_tokens:list")).status_code == 302


def test_actions_are_post_only_and_need_csrf(kommune_a: Municipality, merkantil_a: Any) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    strict = login(Client(enforce_csrf_checks=True), merkantil_a)
    assert strict.get(reverse("invoices:approve", args=[basis.pk])).status_code == 405
    assert strict.post(reverse("invoices:approve", args=[basis.pk])).status_code == 403
    basis.refresh_from_db()
    assert basis.status == BasisStatus.RECEIVED


def test_approve_the_period_from_the_list(
    client: Client, kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    good = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    bad = factories.basis(
        kommune_a, status=BasisStatus.RECEIVED, lines=[{"service": services_a["GML"]}]
    )
    other_unit = factories.basis(
        kommune_a, status=BasisStatus.RECEIVED, unit_obj=factories.unit(kommune_a, "KOS", "Korttid")
    )
    login(client, merkantil_a)
    page = client.get(reverse("invoices:list"), {"period": "2026-10"}).content.decode()
    assert reverse("invoices:period_approve") in page
    assert reverse("invoices:validation_summary") in page

    summary = client.get(
        reverse("invoices:validation_summary"), {"period": "2026-10"}
    ).content.decode()
    assert "1 blokkerende feil i 1 mottatt grunnlag" in " ".join(summary.split())

    response = client.post(
        reverse("invoices:period_approve"), {"period": "2026-10", "unit": "HJT-NORD"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("invoices:validation_report"))
    statuses = dict(InvoiceBasis.objects.values_list("pk", "status"))
    assert statuses == {good.pk: "approved", bad.pk: "received", other_unit.pk: "received"}

    report = client.get(response["Location"])
    text = report.content.decode()
    assert bad.source_reference in text and "service_not_billable" in text
    assert good.source_reference not in text

    response = client.post(reverse("invoices:period_unapprove"), {"period": "2026-10"}, follow=True)
    assert "Godkjenningen er trukket for 1 grunnlag" in response.content.decode()
    assert InvoiceBasis.objects.get(pk=good.pk).status == BasisStatus.RECEIVED


def test_report_shows_warnings_on_request(
    client: Client, kommune_a: Municipality, merkantil_a: Any
) -> None:
    nowhere = factories.party(kommune_a, factories.FNR_OTHER, address1="", postcode="", place="")
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED, payer=nowhere)
    login(client, merkantil_a)
    url = reverse("invoices:validation_report")
    assert basis.source_reference not in client.get(url, {"period": "2026-10"}).content.decode()
    page = client.get(url, {"period": "2026-10", "vis": "alle"}).content.decode()
    assert basis.source_reference in page and "missing_address" in page
    assert factories.FNR_OTHER not in page


def test_basis_detail_actions(
    client: Client, kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    login(client, merkantil_a)
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    detail = reverse("invoices:detail", args=[basis.pk])
    page = client.get(detail).content.decode()
    assert reverse("invoices:approve", args=[basis.pk]) in page
    assert reverse("invoices:delete", args=[basis.pk]) in page
    assert reverse("invoices:credit", args=[basis.pk]) not in page

    client.post(reverse("invoices:approve", args=[basis.pk]))
    basis.refresh_from_db()
    assert basis.status == BasisStatus.APPROVED
    page = client.get(detail).content.decode()
    assert reverse("invoices:unapprove", args=[basis.pk]) in page
    assert reverse("invoices:delete", args=[basis.pk]) not in page
    response = client.post(reverse("invoices:delete", args=[basis.pk]), follow=True)
    assert "Bare mottatte" in response.content.decode()
    client.post(reverse("invoices:unapprove", args=[basis.pk]))
    basis.refresh_from_db()
    assert basis.status == BasisStatus.RECEIVED
    client.post(reverse("invoices:delete", args=[basis.pk]))
    assert not InvoiceBasis.objects.filter(pk=basis.pk).exists()


def test_invalid_basis_shows_its_errors(
    client: Client, kommune_a: Municipality, merkantil_a: Any, services_a: Any
) -> None:
    basis = factories.basis(
        kommune_a, status=BasisStatus.RECEIVED, lines=[{"service": services_a["UTG"]}]
    )
    login(client, merkantil_a)
    page = client.get(reverse("invoices:detail", args=[basis.pk])).content.decode()
    # The field in words (the path stays in the title, for support), and the message.
    assert "Linje 1: tjeneste" in page and "ikke gyldig i perioden" in page
    assert ">lines[0].service_code<" not in page
    response = client.post(reverse("invoices:approve", args=[basis.pk]), follow=True)
    assert "ikke gyldig i perioden" in response.content.decode()
    basis.refresh_from_db()
    assert basis.status == BasisStatus.RECEIVED


def test_krediter_from_the_detail_page(
    client: Client, kommune_a: Municipality, superbruker_a: Any
) -> None:
    sent = factories.basis(kommune_a, status=BasisStatus.SENT)
    login(client, superbruker_a)
    page = client.get(reverse("invoices:detail", args=[sent.pk])).content.decode()
    assert reverse("invoices:credit", args=[sent.pk]) in page
    form = client.get(reverse("invoices:credit", args=[sent.pk])).content.decode()
    assert 'name="linje_1"' in form and 'name="reason"' in form
    response = client.post(
        reverse("invoices:credit", args=[sent.pk]), {"alt": "1", "reason": "Feil tjeneste"}
    )
    credit = InvoiceBasis.objects.get(kind=BasisKind.CREDIT)
    assert response["Location"] == reverse("invoices:detail", args=[credit.pk])
    assert credit.credit_reason == "Feil tjeneste"
    response = client.post(
        reverse("invoices:credit", args=[sent.pk]), {"alt": "1", "reason": "Igjen"}, follow=True
    )
    assert "ikke noe igjen å kreditere" in response.content.decode()
    assert InvoiceBasis.objects.filter(kind=BasisKind.CREDIT).count() == 1
    page = client.get(reverse("invoices:detail", args=[sent.pk])).content.decode()
    assert reverse("invoices:credit", args=[sent.pk]) not in page


# --- API keys ----------------------------------------------------------------------------------


def test_api_keys_page_for_the_systemadministrator_only(
    client: Client, kommune_a: Municipality, admin_a: Any, merkantil_a: Any
) -> None:
    url = reverse("api_tokens:list")
    login(client, merkantil_a)
    assert client.get(url).status_code == 403
    assert "API-nøkler" not in client.get(reverse("invoices:list")).content.decode()
    login(client, admin_a)
    assert "API-nøkler" in client.get(reverse("invoices:list")).content.decode()
    response = client.post(url, {"name": "Fagsystem"})
    assert response.status_code == 200
    token = ApiToken.objects.get()
    page = response.content.decode()
    plaintext = page.split('readonly value="', 1)[1].split('"', 1)[0]
    assert plaintext.startswith(token.prefix)
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    again = client.get(url).content.decode()
    assert plaintext not in again and token.token_hash not in again
    assert token.prefix in again

    client.post(reverse("api_tokens:revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_api_keys_of_another_municipality_are_404(
    client: Client, kommune_a: Municipality, admin_b: Any
) -> None:
    token, _plain = api_token_create(kommune_a, "A", None)
    login(client, admin_b)
    assert client.post(reverse("api_tokens:revoke", args=[token.pk])).status_code == 404
    assert "A" not in [t.name for t in client.get(reverse("api_tokens:list")).context["tokens"]]
    token.refresh_from_db()
    assert token.revoked_at is None


def test_admin_lists_mask_national_ids(kommune_a: Municipality) -> None:
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("drift", "drift@example.invalid", "x")
    factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    client = login(Client(), operator)
    for url in ("/driftsadmin/invoices/party/", "/driftsadmin/invoices/invoicebasis/"):
        page = client.get(url).content.decode()
        assert factories.FNR_CLASSIC not in page, url
        assert factories.FNR_CLASSIC[:6] + "*****" in page, url
    basis = InvoiceBasis.objects.get()
    page = client.get(f"/driftsadmin/invoices/invoicebasis/{basis.pk}/change/").content.decode()
    assert factories.FNR_CLASSIC not in page
    token, _plain = api_token_create(kommune_a, "A", None)
    page = client.get(f"/driftsadmin/invoices/apitoken/{token.pk}/change/").content.decode()
    assert token.token_hash not in page


def test_the_list_pages_the_month_from_both_ends(
    client: Client, kommune_a: Municipality, merkantil_a: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    bases = [factories.basis(kommune_a, source_reference=f"LIST-{n:02d}") for n in range(10)]
    factories.basis(kommune_a, period="2026-09", source_reference="OTHER-MONTH")
    login(client, merkantil_a)
    url = reverse("invoices:list")

    shown = []
    for number in (1, 2, 3):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url, {"period": "2026-10", "page": number}).content.decode()
        shown.append([b.source_reference for b in bases if b.source_reference in page])
        if number == 3:
            # The last page's ids come from the month's far end, not after an OFFSET of 8.
            ids_sql = [
                q["sql"]
                for q in queries.captured_queries
                if q["sql"].startswith('SELECT "invoices_invoicebasis"."id" AS "id" FROM')
            ]
            assert len(ids_sql) == 1, "\n".join(q["sql"] for q in queries.captured_queries)
            assert "DESC LIMIT 2" in ids_sql[0] and "OFFSET" not in ids_sql[0], ids_sql
    assert shown == [
        [f"LIST-{n:02d}" for n in range(0, 4)],
        [f"LIST-{n:02d}" for n in range(4, 8)],
        [f"LIST-{n:02d}" for n in range(8, 10)],
    ]
    assert "OTHER-MONTH" not in page
