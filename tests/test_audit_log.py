"""*Logg* (issue 12, item 5): the systemadministrator reads the active municipality's audit trail
in words, newest first, filtered by user, action, dates and object; never another municipality's
events nor those of no municipality; every action the product records has a Bokmål label."""

from __future__ import annotations

import datetime
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import Transfer
from invoices.audit import audit
from invoices.audit_words import vocabulary
from invoices.credit import invoice_basis_credit_lines
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis, Municipality, TransferRoute
from invoices.services import (
    accounting_settings_update,
    invoice_basis_approve,
    invoice_basis_delete,
)
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/administrasjon/logg/"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(user: Any, municipality: Municipality | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if municipality is not None:
        client.post(reverse("switch_municipality"), {"municipality": municipality.pk})
    # Signing in is in the trail too; these tests read what they wrote themselves.
    AuditEvent.objects.filter(action="auth.login").delete()
    return client


def rows(client: Client, **query: Any) -> list[str]:
    response = client.get(URL, query)
    assert response.status_code == 200, response.content.decode()[:500]
    html = response.content.decode()
    found = re.findall(r'<tr data-testid="audit-row">(.*?)</tr>', html, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in found]


def at(event: AuditEvent, when: datetime.datetime) -> AuditEvent:
    AuditEvent.objects.filter(pk=event.pk).update(created_at=when)
    return AuditEvent.objects.get(pk=event.pk)


# --- every action in words ---------------------------------------------------------------------

_ACTION = re.compile(r"""(?:\baudit|\brecord|\baudit_each)\(\s*["']([a-z_]+\.[a-z_]+)["']""", re.S)


def recorded_actions() -> set[str]:
    """Every action name the product's code passes to the audit trail."""
    root = Path(django_settings.BASE_DIR)
    found: set[str] = set()
    for app in ("invoices", "exports", "integrations", "accounts", "operations", "core"):
        for path in (root / app).rglob("*.py"):
            if "migrations" not in path.parts:
                found |= set(_ACTION.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_recorded_action_has_a_bokmal_label() -> None:
    actions = recorded_actions()
    # The finder finds what it must (a finder that finds nothing would pass any check).
    assert {
        "invoice_basis.intake",
        "invoice_basis.corrected",
        "invoice_basis.credit",
        "export.done",
        "visma.transfer_finished",
        "auth.login_failed",
        "secrets.rotated",
    } <= actions
    words = vocabulary().actions
    assert sorted(actions - set(words)) == []
    for code, action in words.items():
        assert str(action.label) and str(action.label) != code


def test_an_unknown_action_shows_its_code(kommune_a: Municipality, admin_a: Any) -> None:
    audit("something.new", actor=None, municipality=kommune_a, count=3)
    (row,) = rows(client_for(admin_a))
    assert "something.new" in row and "systemet" in row


# --- tenancy and roles ------------------------------------------------------------------------


def test_only_the_active_municipalitys_events(
    kommune_a: Municipality,
    kommune_b: Municipality,
    admin_a: Any,
    merkantil_a_admin_b: Any,
) -> None:
    audit("api_token.create", actor=admin_a, municipality=kommune_a, name="Nøkkel A")
    audit("api_token.create", actor=None, municipality=kommune_b, name="Nøkkel B")
    audit("auth.login_failed", actor=None, municipality=None, username="ingen", reason="x")
    seen_by_a = " ".join(rows(client_for(admin_a)))
    assert "Nøkkel A" in seen_by_a and "Nøkkel B" not in seen_by_a and "ingen" not in seen_by_a
    seen_by_b = " ".join(rows(client_for(merkantil_a_admin_b, kommune_b)))
    assert "Nøkkel B" in seen_by_b and "Nøkkel A" not in seen_by_b and "ingen" not in seen_by_b
    # The same user with billing rights in A reads no log there.
    assert client_for(merkantil_a_admin_b, kommune_a).get(URL).status_code == 403


def test_another_municipalitys_object_is_never_linked(
    kommune_a: Municipality, kommune_b: Municipality, admin_a: Any
) -> None:
    theirs = factories.basis(kommune_b)
    # An event of A that names B's basis (it cannot happen; if it did, no link and no name).
    audit("invoice_basis.delete", actor=admin_a, municipality=kommune_a, obj=theirs)
    (row,) = rows(client_for(admin_a))
    assert theirs.source_reference not in row
    assert (
        reverse("invoices:detail", args=[theirs.pk])
        not in client_for(admin_a).get(URL).content.decode()
    )


def test_the_menu_links_the_log_for_the_administrator_only(
    kommune_a: Municipality, admin_a: Any, merkantil_a: Any
) -> None:
    assert URL in client_for(admin_a).get(reverse("invoices:list")).content.decode()
    assert URL not in client_for(merkantil_a).get(reverse("invoices:list")).content.decode()
    assert client_for(merkantil_a).get(URL).status_code == 403


# --- rows in words ----------------------------------------------------------------------------


def test_who_when_what_which_and_the_details(
    kommune_a: Municipality, admin_a: Any, merkantil_a: Any
) -> None:
    factories.dimensions(kommune_a)
    accounting_settings_update(
        kommune_a,
        values={"transfer_route": TransferRoute.AGRESSO_FILE, "default_oppdragsgiver": "013"},
        actor=admin_a,
    )
    received = [factories.basis(kommune_a, status=BasisStatus.RECEIVED) for _ in range(2)]
    invoice_basis_approve(received, merkantil_a)
    sent = factories.basis(kommune_a, status=BasisStatus.SENT, source_reference="HT-SENDT")
    invoice_basis_credit_lines(sent, None, reason="Feil sats", actor=merkantil_a)
    transfer = Transfer.objects.create(municipality=kommune_a, period="2026-10", basis_count=2)
    audit(
        "visma.transfer_finished",
        actor=None,
        municipality=kommune_a,
        obj=transfer,
        test=False,
        status="done",
        counts={"sent": 2},
    )
    when = datetime.datetime(2026, 10, 31, 23, 30, tzinfo=datetime.UTC)
    for event in AuditEvent.objects.all():
        at(event, when + datetime.timedelta(seconds=event.pk))
    finished, credit, approve, settings_changed = rows(client_for(admin_a))

    assert finished.startswith("01.11.2026 00:")  # 23:2x UTC is past midnight in Oslo
    assert "Overføring til Visma ferdig" in finished and "(visma.transfer_finished)" in finished
    assert f"Overføring til Visma #{transfer.pk}" in finished
    assert "Resultat: Ferdig (done)" in finished and "Mottatt av Visma: 2" in finished

    assert "merkantil_a" in credit and "Kreditnota laget" in credit
    assert "HT-SENDT-K1" in credit and "Feil sats" in credit and "−860,00" in credit

    assert "Fakturagrunnlag godkjent" in approve
    assert "2 grunnlag godkjent, til sammen 1 720,00 kr" in approve

    assert "admin_a" in settings_changed and "Regnskapsoppsettet endret" in settings_changed
    assert "Overføring: Visma Fakturering – importfil (visma_file) → Agresso / UBW" in (
        settings_changed
    )
    assert "Standard oppdragsgiver: – → 013" in settings_changed

    html = client_for(admin_a).get(URL).content.decode()
    note = InvoiceBasis.objects.get(source_reference="HT-SENDT-K1")
    # A basis and a transfer the administrator may open are linked; an export is not (billing
    # only), nor a basis that is gone.
    assert reverse("invoices:detail", args=[note.pk]) in html
    assert reverse("integrations:transfer_detail", args=[transfer.pk]) in html


def test_a_deleted_basis_is_named_but_not_linked(
    kommune_a: Municipality, admin_a: Any, merkantil_a: Any
) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED, source_reference="HT-SLETT")
    pk = basis.pk
    invoice_basis_delete(basis, merkantil_a)
    (row,) = rows(client_for(admin_a))
    assert "Fakturagrunnlag slettet" in row and "HT-SLETT" in row
    assert (
        reverse("invoices:detail", args=[pk]) not in client_for(admin_a).get(URL).content.decode()
    )


def test_the_visma_password_is_never_shown(kommune_a: Municipality, admin_a: Any) -> None:
    from integrations.services import visma_settings_update

    visma_settings_update(
        kommune_a,
        selskap="1",
        base_url="https://visma.example/fakturering_ws/",
        username="demo",
        password="Hemmelig-Passord-99",
        enabled=True,
        actor=admin_a,
    )
    html = client_for(admin_a).get(URL).content.decode()
    assert "Visma-oppsettet endret" in html
    assert "Hemmelig-Passord-99" not in html
    assert "Passordet er endret (det vises aldri)." in html


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def trail(kommune_a: Municipality, admin_a: Any, merkantil_a: Any) -> dict[str, Any]:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED, source_reference="HT-FILTER")
    other = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    invoice_basis_approve([basis, other], merkantil_a)
    transfer = Transfer.objects.create(municipality=kommune_a, period="2026-10")
    events = {
        "approve": AuditEvent.objects.get(action="invoice_basis.approve"),
        "token": audit("api_token.create", actor=admin_a, municipality=kommune_a, name="K"),
        "stopped": audit(
            "visma.transfer_stopped", actor=None, municipality=kommune_a, obj=transfer, code="X"
        ),
    }
    days = {"approve": 10, "token": 20, "stopped": 30}
    for name, event in events.items():
        at(event, datetime.datetime(2026, 10, days[name], 12, tzinfo=datetime.UTC))
    return {"basis": basis, "transfer": transfer, **events}


def labels(found: list[str]) -> list[str]:
    out = []
    for row in found:
        for label in ("Fakturagrunnlag godkjent", "API-nøkkel laget", "stoppet"):
            if label in row:
                out.append(label)
    return out


def test_filters(trail: dict[str, Any], admin_a: Any, merkantil_a: Any) -> None:
    client = client_for(admin_a)
    assert labels(rows(client)) == ["stoppet", "API-nøkkel laget", "Fakturagrunnlag godkjent"]
    assert labels(rows(client, bruker=merkantil_a.pk)) == ["Fakturagrunnlag godkjent"]
    assert labels(rows(client, bruker=0)) == ["stoppet"]
    assert labels(rows(client, handling="api_token.create")) == ["API-nøkkel laget"]
    assert labels(rows(client, fra="2026-10-15")) == ["stoppet", "API-nøkkel laget"]
    assert labels(rows(client, til="2026-10-20")) == [
        "API-nøkkel laget",
        "Fakturagrunnlag godkjent",
    ]
    assert labels(rows(client, fra="2026-10-20", til="2026-10-20")) == ["API-nøkkel laget"]
    transfer = trail["transfer"]
    assert labels(rows(client, objekt="integrations.Transfer", objekt_id=transfer.pk)) == [
        "stoppet"
    ]
    assert labels(rows(client, objekt="integrations.Transfer")) == ["stoppet"]
    # A basis by its reference, or by type and id: the approval of two bases names it.
    basis = trail["basis"]
    assert labels(rows(client, referanse="HT-FILTER")) == ["Fakturagrunnlag godkjent"]
    assert labels(rows(client, referanse=basis.reference)) == ["Fakturagrunnlag godkjent"]
    assert labels(rows(client, objekt="invoices.InvoiceBasis", objekt_id=basis.pk)) == [
        "Fakturagrunnlag godkjent"
    ]
    page = client.get(URL, {"referanse": "FINNES-IKKE"}).content.decode()
    assert "Fant ikke noe grunnlag" in page


def test_a_basis_of_another_municipality_is_not_found(
    trail: dict[str, Any], kommune_b: Municipality, admin_a: Any
) -> None:
    theirs = factories.basis(kommune_b, source_reference="HT-B")
    client = client_for(admin_a)
    assert "Fant ikke noe grunnlag" in client.get(URL, {"referanse": "HT-B"}).content.decode()
    assert rows(client, objekt="invoices.InvoiceBasis", objekt_id=theirs.pk) == []


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"bruker": "x"}, "«bruker»"),
        ({"handling": "ukjent.ting"}, "«handling»: ukjent valg"),
        ({"fra": "31.10.2026"}, "«fra»: en dato skrives ÅÅÅÅ-MM-DD"),
        ({"til": "2026-02-30"}, "«til»: en dato skrives"),
        ({"objekt": "auth.User"}, "«objekt»: ukjent valg"),
        ({"objekt_id": "²"}, "«objekt_id»"),
        ({"referanse": "a\x00b"}, "kontrolltegn"),
        ({"page": "9" * 30}, "«page»"),
    ],
)
def test_bad_filters_are_a_400_in_words(
    kommune_a: Municipality, admin_a: Any, query: dict[str, str], says: str
) -> None:
    response = client_for(admin_a).get(URL, query)
    assert response.status_code == 400
    assert says in unescape(response.content.decode())


def test_paged_newest_first(kommune_a: Municipality, admin_a: Any) -> None:
    start = timezone.now() - datetime.timedelta(days=1)
    for i in range(120):
        at(
            audit("api_token.create", actor=admin_a, municipality=kommune_a, name=f"N{i:03d}"),
            start + datetime.timedelta(minutes=i),
        )
    client = client_for(admin_a)
    first = rows(client)
    assert len(first) == 50 and "N119" in first[0] and "N070" in first[-1]
    last = rows(client, page=3)
    assert len(last) == 20 and "N019" in last[0] and "N000" in last[-1]
    assert "Side 3 av 3" in client.get(URL, {"page": 3}).content.decode()


def test_times_are_shown_in_oslo_time(kommune_a: Municipality, admin_a: Any) -> None:
    summer = datetime.datetime(2026, 7, 1, 22, 15, tzinfo=datetime.UTC)
    at(audit("api_token.create", actor=admin_a, municipality=kommune_a, name="S"), summer)
    (row,) = rows(client_for(admin_a))
    assert row.startswith("02.07.2026 00:15")  # summer time: UTC+2


def test_a_refused_export_names_no_raw_finding_codes(kommune_a: Municipality, admin_a: Any) -> None:
    audit(
        "export.refused",
        actor=None,
        municipality=kommune_a,
        errors=2,
        warnings=1,
        codes=["missing_customer_number", "zero_amount"],
    )
    (row,) = rows(client_for(admin_a))
    assert "Eksport stoppet av kontrollen" in row and "2 feil og 1 advarsler" in row
    assert "Funnene står på eksportens side." in row
    assert "missing_customer_number" not in row and "zero_amount" not in row
