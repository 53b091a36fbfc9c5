"""The Visma half of a basis's story (`integrations.timeline` through the channel registry):
rejected with Visma's messages, taken back, corrected and approved again, sent, then invoiced with
its number and KID, in words with Visma's codes in brackets, in order."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from django.test import Client
from django.urls import reverse

from integrations import services, status
from integrations.models import BasisVismaStatus
from invoices.models import InvoiceBasis
from invoices.services import invoice_basis_approve, invoice_basis_unapprove
from tests import factories
from tests.integrations.helpers import run_transfer


def story(client: Client, basis: InvoiceBasis) -> list[str]:
    html = client.get(reverse("invoices:detail", args=[basis.pk])).content.decode()
    section = html.split('data-testid="basis-timeline"', 1)[1].split("</section>", 1)[0]
    items = re.findall(r'<li class="timeline-[a-z]+"[^>]*>(.*?)</li>', section, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def test_rejected_taken_back_approved_sent_and_invoiced(
    kommune_a, visma_a, simulator, merkantil_a
) -> None:
    unknown_vare = factories.service(kommune_a, code="XX", visma_vare="0999")
    basis = factories.basis(kommune_a, lines=[{"service": unknown_vare}])
    first = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    # Visma stored nothing: the clerk takes the basis back, the catalogue is corrected, and the
    # basis is approved and sent again.
    assert invoice_basis_unapprove([basis], merkantil_a) == 1
    unknown_vare.visma_vare = "0200"
    unknown_vare.save()
    invoice_basis_approve([basis], merkantil_a)
    second = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    simulator.invoice("1")
    assert status.status_refresh(kommune_a) == 1
    visma = BasisVismaStatus.objects.get(basis=basis)

    client = Client()
    client.force_login(merkantil_a)
    lines = story(client, basis)
    titles = [line.split(" ", 2)[2] for line in lines]
    assert [t.split(" –")[0].split(" (")[0] for t in titles] == [
        "Mottatt",
        "Avvist av Visma",
        "Godkjenning trukket tilbake",
        "Godkjent",
        "Sendt til Visma",
        "Status i Visma: fakturert",
    ]
    _received, rejected, _back, _approved, sent, invoiced = lines
    assert "Svar fra Visma: avvist (AVVIST)" in rejected
    assert "UKJENT_VARE: Vare 0999 finnes ikke" in rejected and "(linje[1].varenr)" in rejected
    assert f"Overføring #{first.pk}" in rejected and "merkantil_a" in rejected
    assert "Svar fra Visma: mottatt (MOTTATT)" in sent
    assert f"Overføring #{second.pk}" in sent
    assert "(FAKTURERT)" in invoiced
    assert f"Fakturanummer: {visma.fakturanummer}" in invoiced
    assert f"KID: {visma.kid}" in invoiced
    assert visma.forfallsdato is not None
    assert visma.forfallsdato.strftime("Forfall: %d.%m.%Y") in invoiced


def test_a_test_transfer_says_so(kommune_a, visma_a, simulator, superbruker_a: Any) -> None:
    basis = factories.basis(kommune_a)
    run_transfer(
        services.transfer_start(kommune_a, basis_ids=[basis.pk], actor=superbruker_a, test=True)
    )
    client = Client()
    client.force_login(superbruker_a)
    last = story(client, basis)[-1]
    assert "Testoverføring: Godkjent i testoverføring" in last
    assert "godkjent i testmodus (VALIDERT)" in last
