"""The operators' admin (`/driftsadmin/`) never shows a full national id, and its search never
takes one: a search is a GET, so the number would land in the address bar, the browser history and
the web server's access log. The full number is shown only on the product's own basis page, to the
roles that may see it (tests/test_access_matrix.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from invoices.identifiers import mask_national_id
from invoices.models import Party
from tests import factories, test_access_matrix

# The access matrix's objects of kommune A: a basis whose payer has a D-number, an export of such
# a basis with its file, a transfer, an API key and their audit events.
world = test_access_matrix.world
FULL_ID = factories.DNR


@pytest.fixture
def operator(db: None) -> Client:
    user = get_user_model().objects.create_superuser("drift", password="drift-pass-2026")
    client = Client()
    client.force_login(user)
    return client


def _admin_pages() -> list[tuple[str, Any]]:
    return [
        (f"admin:{model._meta.app_label}_{model._meta.model_name}", model)
        for model in admin.site._registry
    ]


@pytest.mark.django_db
def test_no_admin_list_or_change_page_shows_a_full_national_id(
    world: dict, operator: Client, kommune_a: Any
) -> None:
    factories.party(kommune_a, factories.FNR_CLASSIC, name="Ola Nordmann")
    shown = []
    pages = 0
    for name, model in _admin_pages():
        urls = [reverse(f"{name}_changelist")]
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"{name}_change", args=[first.pk]))
        for url in urls:
            response = operator.get(url)
            assert response.status_code == 200, url
            body = response.content.decode()
            pages += 1
            for full in (FULL_ID, factories.FNR_CLASSIC):
                if full in body:
                    shown.append(f"{url} shows {full}")
    assert pages > 20, "the admin scan found too few pages"
    assert not shown, "\n".join(shown)


@pytest.mark.django_db
def test_party_pages_show_the_masked_id(world: dict, operator: Client) -> None:
    party = Party.objects.get(national_id=FULL_ID)
    listing = operator.get(reverse("admin:invoices_party_changelist")).content.decode()
    change = operator.get(reverse("admin:invoices_party_change", args=[party.pk])).content.decode()
    for body in (listing, change):
        assert mask_national_id(FULL_ID) in body
        assert party.name in body
        assert FULL_ID not in body


def test_no_admin_searches_national_ids() -> None:
    searching = [
        f"{model.__name__}: {field}"
        for model, model_admin in admin.site._registry.items()
        for field in model_admin.search_fields
        if "national_id" in field
    ]
    assert not searching, searching


@pytest.mark.django_db
def test_a_national_id_typed_into_the_party_search_finds_nothing(
    world: dict, operator: Client
) -> None:
    """The search box says what it searches (name, organisation number), and a national id typed
    into it anyway matches nobody, so the search is no way to look a person up by number."""
    response = operator.get(reverse("admin:invoices_party_changelist"), {"q": FULL_ID})
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0
    assert "organisasjonsnummer" in body.lower()
    org_party = factories.party(
        world["basis"].municipality, org_number=factories.ORGNR, national_id="", name="Omsorg AS"
    )
    by_org = operator.get(
        reverse("admin:invoices_party_changelist"), {"q": factories.ORGNR}
    ).context["cl"]
    assert [p.pk for p in by_org.result_list] == [org_party.pk]
