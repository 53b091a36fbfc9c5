"""The Kontrollrapport as a download: one row per finding, in words and with its code, the page's
numbers, masked national ids, billing roles only, and only the own municipality."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

import invoices.validation
from invoices.labels import ISSUE_LABELS, issue_label
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.downloads.conftest import Month
from tests.downloads.helpers import (
    as_dicts,
    client_for,
    content,
    csv_ore,
    page_number,
    read_csv,
    read_xlsx,
    text_ore,
    xlsx_ore,
)

pytestmark = pytest.mark.django_db

CSV = reverse("invoices:validation_report_csv")
XLSX = reverse("invoices:validation_report_xlsx")
PAGE = reverse("invoices:validation_report")


@pytest.fixture
def findings(month: Month, kommune_a: Municipality, kommune_b: Municipality) -> dict[str, Any]:
    """Besides the month's clean bases: one with an error and a warning, one with a warning only,
    one with an error only (in HJT-NORD); and one in kommune B."""
    homeless = factories.party(
        kommune_a, factories.FNR_2032, name="Uten Adresse", address1="", postcode="", place=""
    )
    sor = factories.unit(kommune_a, "HJT-SOR")
    old = factories.service(kommune_a, "GML", name="Gammel tjeneste", billable=False)
    b_homeless = factories.party(kommune_b, factories.DNR, name="B uten adresse", address1="")
    return {
        "both": factories.basis(
            kommune_a,
            unit_obj=sor,
            payer=homeless,
            status=BasisStatus.RECEIVED,
            lines=[{"dimensions": {"objekt": "77"}}],
        ),
        "warning": factories.basis(
            kommune_a, unit_obj=sor, lines=[{"quantity": "0"}], status=BasisStatus.RECEIVED
        ),
        "error": factories.basis(kommune_a, lines=[{"service": old, "quantity": "1"}]),
        "other_tenant": factories.basis(kommune_b, payer=b_homeless, source_reference="B-FINDING"),
    }


def test_one_row_per_finding_in_words_and_with_its_code(
    findings: dict[str, Any], merkantil_a: Any
) -> None:
    rows = as_dicts(read_csv(client_for(merkantil_a).get(CSV + "?period=2026-10")))
    both, warning, error = findings["both"], findings["warning"], findings["error"]
    assert [(r["Kildereferanse"], r["Kode"]) for r in rows] == [
        (both.source_reference, "missing_address"),
        (both.source_reference, "unknown_dimension"),
        (warning.source_reference, "zero_amount"),
        (error.source_reference, "service_not_billable"),
    ]
    address, dimension, zero, billable = rows
    assert address["Referanse"] == f"9999-{both.pk:09d}"
    assert (address["Betaler"], address["Status"], address["Sum kr"]) == (
        "Uten Adresse",
        "Mottatt",
        "860,00",
    )
    assert (address["Alvor"], address["Funn"]) == ("Advarsel", "Betaleren mangler postadresse")
    assert address["Melding"].startswith("Betaleren mangler postadresse")
    assert (dimension["Alvor"], dimension["Funn"], dimension["Felt"]) == (
        "Feil",
        "Ukjent konteringsdimensjon",
        "lines[0].dimensions.objekt",
    )
    assert (zero["Funn"], zero["Sum kr"]) == ("Sum 0 kr", "0,00")
    assert (billable["Funn"], billable["Status"]) == ("Tjenesten er ikke fakturerbar", "Godkjent")


def test_national_ids_are_masked_even_for_billing_staff(
    findings: dict[str, Any], superbruker_a: Any
) -> None:
    client = client_for(superbruker_a)
    masked = factories.FNR_2032[:6] + "*****"
    for rows in (
        as_dicts(read_csv(client.get(CSV + "?period=2026-10"))),
        as_dicts(read_xlsx(client.get(XLSX + "?period=2026-10"))["Kontrollrapport"]),
    ):
        assert {r["Betalers fødselsnr./org.nr."] for r in rows[:2]} == {masked}
    for url in (CSV, XLSX):
        body = content(client.get(url + "?period=2026-10"))
        assert factories.FNR_2032.encode() not in body
        assert factories.FNR_CLASSIC.encode() not in body


def _page_amounts(html: str) -> list[int]:
    table = html[html.index('data-testid="report"') :]
    texts = re.findall(r'<td class="num">([^<]+)</td>', table)
    return [text_ore(t) for t in texts]


@pytest.mark.parametrize("query", ["period=2026-10", "period=2026-10&unit=HJT-SOR"])
def test_the_page_and_the_files_agree(
    findings: dict[str, Any], merkantil_a: Any, query: str
) -> None:
    client = client_for(merkantil_a)
    page = client.get(f"{PAGE}?{query}&vis=alle").content.decode()
    checked, blocking = page_number(page, "checked"), page_number(page, "blocking")
    warned = int(re.search(r'class="value warning">(\d+)<', page).group(1))  # type: ignore[union-attr]
    summary = f"Kontrollert: {checked} grunnlag. Med feil: {blocking}. Med advarsler: {warned}."
    amounts = _page_amounts(page)

    rows = read_csv(client.get(f"{CSV}?{query}"))
    total = rows[-1]
    assert total[0] == f"Sum, {len(amounts)} grunnlag med funn"
    assert csv_ore(total[5]) == sum(amounts)
    assert total[7] == summary
    sheet = read_xlsx(client.get(f"{XLSX}?{query}"))["Kontrollrapport"]
    assert xlsx_ore(sheet[-1][5]) == sum(amounts) and sheet[-1][7] == summary
    assert [(r[1], r[10]) for r in sheet[1:-1]] == [(r[1], r[10]) for r in rows[1:-1]]


def test_the_selection_is_respected(findings: dict[str, Any], merkantil_a: Any) -> None:
    rows = as_dicts(read_csv(client_for(merkantil_a).get(CSV + "?period=2026-10&unit=HJT-SOR")))
    refs = {r["Kildereferanse"] for r in rows}
    assert refs == {findings["both"].source_reference, findings["warning"].source_reference}
    assert read_csv(client_for(merkantil_a).get(CSV + "?period=2026-09"))[1:-1] == []


def test_exported_bases_are_not_checked(findings: dict[str, Any], merkantil_a: Any) -> None:
    InvoiceBasis.objects.filter(pk=findings["error"].pk).update(status="exported")
    rows = as_dicts(read_csv(client_for(merkantil_a).get(CSV + "?period=2026-10")))
    assert findings["error"].source_reference not in {r["Kildereferanse"] for r in rows}


def test_another_municipality_gets_only_its_own(findings: dict[str, Any], merkantil_b: Any) -> None:
    client = client_for(merkantil_b)
    rows = as_dicts(read_csv(client.get(CSV + "?period=2026-10")))
    assert [(r["Kildereferanse"], r["Kode"]) for r in rows] == [("B-FINDING", "missing_address")]
    sheet = read_xlsx(client.get(XLSX + "?period=2026-10"))["Kontrollrapport"]
    assert [r[1] for r in sheet[1:-1]] == ["B-FINDING"]


def test_only_billing_roles(findings: dict[str, Any], admin_a: Any, lesetilgang_a: Any) -> None:
    for user in (admin_a, lesetilgang_a):
        for url in (CSV, XLSX):
            assert client_for(user).get(url + "?period=2026-10").status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="download.").exists()


def test_each_download_is_audited(findings: dict[str, Any], merkantil_a: Any) -> None:
    client_for(merkantil_a).get(XLSX + "?period=2026-10&unit=HJT-SOR")
    event = AuditEvent.objects.get(action="download.validation_report")
    assert event.actor_label == "merkantil_a"
    assert event.data == {
        "file_name": "kontrollrapport_9999_2026-10_HJT-SOR.xlsx",
        "rows": 3,
        "checked": 4,
        "blocking": 1,
        "warned": 2,
        "period": "2026-10",
        "unit": "HJT-SOR",
    }


def test_the_report_page_links_to_both_files(findings: dict[str, Any], merkantil_a: Any) -> None:
    body = client_for(merkantil_a).get(PAGE + "?period=2026-10&unit=HJT-SOR").content.decode()
    assert f'href="{XLSX}?period=2026-10&amp;unit=HJT-SOR">Last ned (Excel)</a>' in body
    assert f'href="{CSV}?period=2026-10&amp;unit=HJT-SOR">Last ned (CSV)</a>' in body


def test_every_finding_code_has_a_label() -> None:
    """The validation package lists its codes; each has a name for people."""
    doc = invoices.validation.__doc__ or ""
    listed = set(re.findall(r"`([a-z]+(?:_[a-z]+)+|required)`", doc))
    listed -= {"validate_bases", "validate_stored"}
    assert len(listed) > 25
    assert listed <= set(ISSUE_LABELS), sorted(listed - set(ISSUE_LABELS))
    assert issue_label("a_code_from_tomorrow") == "Annet funn"
