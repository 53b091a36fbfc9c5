"""Finding a person or a basis across periods (issue: a clerk could not find a person): by name,
fødselsnummer (exact, never in a URL), source reference, the basis reference, and what the
channels know — Visma's invoice number and KID, an Agresso order number."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exports.models import Export, ExportItem
from integrations.models import BasisVismaStatus
from invoices.models import InvoiceBasis, Municipality
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def bases(kommune_a: Municipality, kommune_b: Municipality) -> dict[str, InvoiceBasis]:
    kari = factories.party(kommune_a, factories.FNR_CLASSIC, name="Kari Nordmann")
    aile = factories.party(kommune_a, factories.DNR, name="Áile Čoavdda")
    south = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    found = {
        "kari_sep": factories.basis(
            kommune_a, period="2026-09", payer=kari, source_reference="HT-KARI-09"
        ),
        "kari_oct": factories.basis(kommune_a, period="2026-10", payer=kari, unit_obj=south),
        "aile": factories.basis(
            kommune_a, period="2026-10", payer=aile, source_reference="HT-AILE-10"
        ),
        # The same national id in another municipality: never found from kommune A.
        "other": factories.basis(
            kommune_b, payer=factories.party(kommune_b, factories.FNR_CLASSIC, name="Kari B")
        ),
    }
    BasisVismaStatus.objects.create(
        basis=found["aile"],
        tilstand="FAKTURERT",
        fakturanummer="2026100042",
        kid="12345674",
        fakturadato=datetime.date(2026, 11, 1),
        forfallsdato=datetime.date(2026, 11, 20),
        checked_at=datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC),
    )
    export = Export.objects.create(
        municipality=kommune_a, format="agresso", layout="classic", period="2026-09"
    )
    ExportItem.objects.create(
        export=export,
        basis=found["kari_sep"],
        total_ore=1,
        content_hash="x",
        basis_status="approved",
        order_id=380000007,
    )
    return found


def search(client: Client, user: Any, term: str, **filters: str) -> tuple[str, str]:
    """(the URL the search lands on, the page) — as a browser would see them."""
    client.force_login(user)
    posted = client.post(reverse("invoices:search"), {"q": term, **filters})
    assert posted.status_code == 302
    page = client.get(posted["Location"])
    assert page.status_code == 200
    return posted["Location"], page.content.decode()


def shown(body: str) -> set[str]:
    rows = body[body.index('data-testid="basis-rows"') :]
    return set(re.findall(r'href="/fakturagrunnlag/(\d+)/"', rows))


def ids(*bases: InvoiceBasis) -> set[str]:
    return {str(b.pk) for b in bases}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("kari", ["kari_sep", "kari_oct"]),
        ("NORDMANN", ["kari_sep", "kari_oct"]),
        ("Áile", ["aile"]),
        ("HT-AILE-10", ["aile"]),
        ("ht-kari", ["kari_sep"]),
        ("2026100042", ["aile"]),  # Visma's invoice number
        ("12345674", ["aile"]),  # the KID
        ("380000007", ["kari_sep"]),  # the Agresso order number
        (factories.FNR_CLASSIC, ["kari_sep", "kari_oct"]),
        (factories.FNR_CLASSIC[:6], []),  # a fødselsnummer is found whole or not at all
        ("ingen slik", []),
    ],
)
def test_search_finds_across_periods(
    client: Client, merkantil_a: Any, bases: dict[str, InvoiceBasis], term: str, expected: list[str]
) -> None:
    _url, body = search(client, merkantil_a, term)
    assert shown(body) == ids(*(bases[k] for k in expected))


def test_the_basis_reference_finds_the_basis(
    client: Client, merkantil_a: Any, bases: dict[str, InvoiceBasis]
) -> None:
    _url, body = search(client, merkantil_a, bases["aile"].reference)
    assert shown(body) == ids(bases["aile"])


def test_a_national_id_never_stands_in_a_url(
    client: Client, merkantil_a: Any, bases: dict[str, InvoiceBasis]
) -> None:
    url, body = search(client, merkantil_a, factories.FNR_CLASSIC)
    assert factories.FNR_CLASSIC not in url
    hrefs = re.findall(r'(?:href|hx-get|action)="([^"]*)"', body)
    assert hrefs and not [h for h in hrefs if factories.FNR_CLASSIC in h]
    assert "sok=" in url


def test_search_combines_with_the_filters(
    client: Client, merkantil_a: Any, bases: dict[str, InvoiceBasis]
) -> None:
    _url, body = search(client, merkantil_a, "kari", unit="HJT-SOR")
    assert shown(body) == ids(bases["kari_oct"])
    url, _body = search(client, merkantil_a, "kari")
    body = client.get(url + "&period=2026-09").content.decode()
    assert shown(body) == ids(bases["kari_sep"])


def test_another_municipality_and_another_session_find_nothing(
    client: Client, merkantil_a: Any, merkantil_b: Any, bases: dict[str, InvoiceBasis]
) -> None:
    url, _body = search(client, merkantil_a, factories.FNR_CLASSIC)
    _url, body = search(Client(), merkantil_b, factories.FNR_CLASSIC)
    assert shown(body) == ids(bases["other"])
    # The token means nothing in another session: the list simply shows the newest month.
    stranger = Client()
    stranger.force_login(merkantil_b)
    body = stranger.get(url).content.decode()
    assert 'data-testid="search-shown"' not in body
    assert shown(body) == ids(bases["other"])


def test_a_national_id_never_stands_in_the_audit_trail(
    client: Client, merkantil_a: Any, bases: dict[str, InvoiceBasis]
) -> None:
    """The term is kept in the session only. (Log lines mask any national id whatever logs it:
    tests/operations/test_logs.py.)"""
    from invoices.models import AuditEvent

    _url, body = search(client, merkantil_a, factories.FNR_CLASSIC)
    assert shown(body) == ids(bases["kari_sep"], bases["kari_oct"])  # the search did run
    trail = [str(data) for data in AuditEvent.objects.values_list("data", flat=True)]
    assert trail  # the login and the bases' intake are in it
    assert not [data for data in trail if factories.FNR_CLASSIC in data]
