"""The basis's story on its page (issue 12, item 5): from the intake through a correction, the
approval and the export to a credit note, in words and in order, at a constant number of
queries. The Visma half of the story is in tests/integrations/test_timeline.py."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exports.models import ExportProfile
from invoices.credit import invoice_basis_credit_lines
from invoices.intake import intake_document
from invoices.models import ApiToken, BasisStatus, InvoiceBasis, Municipality
from invoices.services import (
    api_token_create,
    invoice_basis_approve,
    invoice_basis_unapprove,
)
from invoices.timeline import basis_timeline
from tests import factories
from tests.exports.helpers import run_export
from tests.intake import helpers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def setup(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def profile(kommune_a: Municipality) -> ExportProfile:
    helpers.catalogue(kommune_a)
    factories.accounting(kommune_a, default_oppdragsgiver="013")
    return ExportProfile.objects.get_or_create(municipality=kommune_a)[0]


def events_on_page(client: Client, basis: InvoiceBasis) -> list[str]:
    """Each entry of the page's story as one line of text."""
    html = client.get(reverse("invoices:detail", args=[basis.pk])).content.decode()
    section = html.split('data-testid="basis-timeline"', 1)[1].split("</section>", 1)[0]
    items = re.findall(r'<li class="timeline-[a-z]+"[^>]*>(.*?)</li>', section, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def test_intake_correction_approval_export_and_credit(
    kommune_a: Municipality, admin_a: Any, merkantil_a: Any, profile: ExportProfile
) -> None:
    _token, plaintext = api_token_create(kommune_a, "Fagsystem", admin_a)
    token = ApiToken.objects.get(prefix=plaintext[:8])
    one_line = [helpers.line()]  # 4,00 × 215,00 kr
    two_lines = [helpers.line(), helpers.line("TA", quantity="1.00", unit_price_ore=20000)]
    intake_document(helpers.document([helpers.basis("HT-7", lines=one_line)]), token=token)
    intake_document(helpers.document([helpers.basis("HT-7", lines=two_lines)]), token=token)
    basis = InvoiceBasis.objects.get(source_reference="HT-7")
    invoice_basis_approve([basis], merkantil_a)
    invoice_basis_unapprove([basis], merkantil_a)
    invoice_basis_approve([basis], merkantil_a)
    export = run_export(kommune_a, merkantil_a, basis_ids=[basis.pk])
    assert export.status == "done", export.findings
    basis.refresh_from_db()
    note = invoice_basis_credit_lines(
        basis, {1: Decimal("1.00")}, reason="Ett besøk avlyst", actor=merkantil_a
    )

    client = Client()
    client.force_login(merkantil_a)
    story = events_on_page(client, basis)
    titles = [line.split(" ", 2)[2] for line in story]  # after the date and the time
    assert [t.split(" –")[0].split(" (")[0] for t in titles] == [
        "Mottatt",
        "Rettet",
        "Godkjent",
        "Godkjenning trukket tilbake",
        "Godkjent",
        "Eksportert",
        "Kreditert",
    ]
    received, corrected, approved, _withdrawn, _again, exported, credited = story
    assert "API-nøkkelen «Fagsystem»" in received
    assert "sum 860,00 kr → 1 060,00 kr, linjer 1 → 2" in corrected
    assert "merkantil_a" in approved
    assert export.file_name in exported and "merkantil_a" in exported
    assert note.source_reference in credited
    assert "Ett besøk avlyst" in credited and "215,00" in credited
    # dd.mm.åååå tt:mm in Europe/Oslo
    local = timezone.localtime(basis.received_at)
    assert story[0].startswith(local.strftime("%d.%m.%Y "))

    # The credit note tells its own beginning, and links back.
    story = events_on_page(client, note)
    assert story[0].split(" ", 2)[2].startswith("Laget som kreditnota")
    assert "HT-7" in story[0] and "Ett besøk avlyst" in story[0]


def test_what_the_basis_knows_when_the_trail_is_silent(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    """Bases from before the trail named bases, and credit notes from the care system."""
    approved_at = timezone.now() - datetime.timedelta(days=3)
    basis = factories.basis(kommune_a, status=BasisStatus.EXPORTED)
    InvoiceBasis.objects.filter(pk=basis.pk).update(
        approved_at=approved_at, approved_by=merkantil_a
    )
    basis.refresh_from_db()
    from_care = factories.basis(
        kommune_a,
        kind="credit",  # type: ignore[arg-type]
        credits=basis,
        status=BasisStatus.RECEIVED,
        lines=[{"quantity": "-1.00"}],
        source_reference="FRA-FAG-1",
    )
    story = basis_timeline(basis, [from_care])
    assert [(e.title, e.who) for e in story] == [
        ("Godkjent", "merkantil_a"),
        ("Mottatt", ""),
        ("Kreditnota mottatt fra fagsystemet", ""),
    ] or [(e.title, e.who) for e in story] == [
        ("Mottatt", ""),
        ("Godkjent", "merkantil_a"),
        ("Kreditnota mottatt fra fagsystemet", ""),
    ]
    assert story[-1].links == ((reverse("invoices:detail", args=[from_care.pk]), "FRA-FAG-1"),)
    assert "−215,00" in story[-1].details[0]


def test_the_page_costs_the_same_whatever_the_story(
    kommune_a: Municipality, merkantil_a: Any, profile: ExportProfile
) -> None:
    def queries(basis: InvoiceBasis) -> int:
        client = Client()
        client.force_login(merkantil_a)
        client.get(reverse("invoices:detail", args=[basis.pk]))  # warm the session
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("invoices:detail", args=[basis.pk]))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    short = factories.basis(kommune_a, status=BasisStatus.EXPORTED)
    long = factories.basis(kommune_a, status=BasisStatus.RECEIVED, lines=[{}, {}, {}])
    for _ in range(3):
        invoice_basis_approve([long], merkantil_a)
        invoice_basis_unapprove([long], merkantil_a)
    invoice_basis_approve([long], merkantil_a)
    run_export(kommune_a, merkantil_a, basis_ids=[long.pk])
    long.refresh_from_db()
    for n in (1, 2, 3):
        invoice_basis_credit_lines(long, {n: Decimal("1")}, reason=f"Del {n}", actor=merkantil_a)
    invoice_basis_credit_lines(short, {1: Decimal("1")}, reason="Del", actor=merkantil_a)
    assert len(basis_timeline(long, list(long.credit_notes.all()))) > 10
    assert queries(short) == queries(long)
