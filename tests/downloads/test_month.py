"""The month as a download: the list's selection as bases and lines, in CSV and XLSX, with the
page's totals to the øre, national ids as the role may see them, and only the own municipality."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from invoices.models import AuditEvent, Municipality
from tests import factories
from tests.downloads.conftest import Month
from tests.downloads.helpers import (
    as_dicts,
    client_for,
    content,
    csv_ore,
    load_xlsx,
    page_number,
    page_ore,
    read_csv,
    read_xlsx,
    xlsx_ore,
)

pytestmark = pytest.mark.django_db

BASES_CSV = reverse("invoices:month_bases_csv")
LINES_CSV = reverse("invoices:month_lines_csv")
XLSX = reverse("invoices:month_xlsx")
MASKED_FNR = factories.FNR_CLASSIC[:6] + "*****"
MASKED_DNR = factories.DNR[:6] + "*****"


def _page(client: Any, query: str) -> str:
    return client.get(reverse("invoices:list_summary") + "?" + query).content.decode()


def test_the_xlsx_holds_the_bases_and_their_lines(month: Month, merkantil_a: Any) -> None:
    sheets = read_xlsx(client_for(merkantil_a).get(XLSX + "?period=2026-10"))
    assert list(sheets) == ["Grunnlag", "Linjer"]
    bases = as_dicts(sheets["Grunnlag"])
    assert [b["Kildereferanse"] for b in bases] == [
        month.org.source_reference,
        month.nord.source_reference,
        month.sor.source_reference,
        month.credit.source_reference,
    ]
    sor = bases[2]
    assert sor["Referanse"] == f"9999-{month.sor.pk:09d}"
    assert sor["Periode"] == "2026-10"
    assert (sor["Enhet"], sor["Enhetsnavn"]) == ("HJT-SOR", "Hjemmetjenesten sone sør")
    assert (sor["Type"], sor["Status"]) == ("Faktura", "Mottatt")
    assert sor["Betaler"] == "=Ola Nordmann"
    assert sor["Linjer"] == 2 and sor["Sum kr"] == 730
    assert isinstance(sor["Mottatt"], datetime.datetime)
    credit = bases[3]
    assert credit["Type"] == "Kreditnota" and credit["Sum kr"] == -300
    assert credit["Krediterer"] == f"9999-{month.org.pk:09d}"
    assert bases[0]["Betalers fødselsnr./org.nr."] == factories.ORGNR

    lines = as_dicts(sheets["Linjer"])
    assert [(line["Kildereferanse"], line["Linje"]) for line in lines] == [
        (month.org.source_reference, 1),
        (month.nord.source_reference, 1),
        (month.sor.source_reference, 1),
        (month.sor.source_reference, 2),
        (month.credit.source_reference, 1),
    ]
    pb, ta = lines[2], lines[3]
    assert (pb["Tjeneste"], pb["Antall"], pb["Enhetspris kr"], pb["Beløp kr"]) == (
        "PB",
        2,
        215,
        430,
    )
    assert pb["Kontering"] == "ansvar=1200"
    assert (ta["Tjenestenavn"], ta["Tekstlinjer"]) == ("Trygghetsalarm", "Alarm | oktober")


def test_a_name_like_a_formula_stays_text(month: Month, merkantil_a: Any) -> None:
    book = load_xlsx(client_for(merkantil_a).get(XLSX + "?period=2026-10"))
    payer = book["Grunnlag"]["H4"]  # the third basis's payer
    assert (payer.value, payer.data_type) == ("=Ola Nordmann", "s")


def test_the_csvs_hold_the_same(month: Month, merkantil_a: Any) -> None:
    client = client_for(merkantil_a)
    bases = read_csv(client.get(BASES_CSV + "?period=2026-10"))
    lines = read_csv(client.get(LINES_CSV + "?period=2026-10"))
    sor = as_dicts(bases)[2]
    assert sor["Referanse"] == f"9999-{month.sor.pk:09d}"
    assert sor["Betaler"] == "'=Ola Nordmann"  # what Excel shows as text
    assert sor["Sum kr"] == "730,00" and sor["Linjer"] == "2"
    received = month.sor.received_at.astimezone(ZoneInfo("Europe/Oslo"))
    assert sor["Mottatt"] == received.strftime("%d.%m.%Y %H:%M")
    assert as_dicts(bases)[3]["Sum kr"] == "-300,00"
    pb = as_dicts(lines)[2]
    assert (pb["Antall"], pb["Enhetspris kr"], pb["Beløp kr"]) == ("2,00", "215,00", "430,00")
    assert bases[-1][0] == "Sum, 4 grunnlag" and bases[-1][13] == "1590,00"
    assert lines[-1][0] == "Sum, 5 linjer" and lines[-1][8] == "1590,00"


QUERIES = [
    "period=2026-10",
    "period=2026-10&unit=HJT-SOR",
    "period=2026-10&service=TA",
    "period=2026-10&status=received",
    "period=2026-10&unit=HJT-SOR&service=PB",
    "period=2026-09",
    "period=2026-10&unit=FINNES-IKKE",
]


@pytest.mark.parametrize("query", QUERIES)
def test_totals_match_the_page_to_the_ore(month: Month, superbruker_a: Any, query: str) -> None:
    """The list's summary for the same selection shows the count and the sum; every download
    adds up to the same, in its total line and in its rows."""
    client = client_for(superbruker_a)
    page = _page(client, query)
    count, total = page_number(page, "total-count"), page_ore(page, "total-sum")

    bases = read_csv(client.get(f"{BASES_CSV}?{query}"))
    assert len(bases) - 2 == count
    assert csv_ore(bases[-1][13]) == total == sum(csv_ore(r[13]) for r in bases[1:-1])
    lines = read_csv(client.get(f"{LINES_CSV}?{query}"))
    assert csv_ore(lines[-1][8]) == total == sum(csv_ore(r[8]) for r in lines[1:-1])

    sheets = read_xlsx(client.get(f"{XLSX}?{query}"))
    assert len(sheets["Grunnlag"]) - 2 == count
    assert xlsx_ore(sheets["Grunnlag"][-1][13]) == total
    assert sum(xlsx_ore(r[13]) for r in sheets["Grunnlag"][1:-1]) == total
    assert xlsx_ore(sheets["Linjer"][-1][8]) == total


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("period=2026-10&unit=HJT-SOR", {"sor", "org", "credit"}),
        ("period=2026-10&service=PB", {"nord", "sor"}),
        ("period=2026-10&status=received", {"sor", "credit"}),
        ("period=2026-10&unit=HJT-SOR&service=PB&status=received", {"sor"}),
        ("period=2026-09", {"september"}),
        ("period=2026-10&unit=FINNES-IKKE", set()),
        ("", set()),
    ],
)
def test_the_selection_is_respected(
    month: Month, merkantil_a: Any, query: str, expected: set
) -> None:
    refs = {getattr(month, name).source_reference for name in expected}
    client = client_for(merkantil_a)
    bases = read_csv(client.get(f"{BASES_CSV}?{query}"))
    assert {r[1] for r in bases[1:-1]} == refs
    sheets = read_xlsx(client.get(f"{XLSX}?{query}"))
    assert {r[1] for r in sheets["Grunnlag"][1:-1]} == refs
    # A basis chosen for one of its services comes with all its lines, so lines add up to it.
    assert {r[1] for r in sheets["Linjer"][1:-1]} == refs


@pytest.mark.parametrize(
    ("persona", "full"),
    [("merkantil_a", True), ("superbruker_a", True), ("admin_a", False), ("lesetilgang_a", False)],
)
def test_national_ids_as_the_role_may_see_them(
    month: Month, request: pytest.FixtureRequest, persona: str, full: bool
) -> None:
    client = client_for(request.getfixturevalue(persona))
    csv_rows = as_dicts(read_csv(client.get(BASES_CSV + "?period=2026-10")))
    xlsx_rows = as_dicts(read_xlsx(client.get(XLSX + "?period=2026-10"))["Grunnlag"])
    for rows in (csv_rows, xlsx_rows):
        ids = {r["Betaler"].lstrip("'"): r["Betalers fødselsnr./org.nr."] for r in rows}
        assert ids["Kari Nordmann"] == (factories.FNR_CLASSIC if full else MASKED_FNR)
        assert ids["=Ola Nordmann"] == (factories.DNR if full else MASKED_DNR)
        assert ids["Omsorg AS"] == factories.ORGNR  # an organisation's number is no secret
    if not full:
        for url in (BASES_CSV, LINES_CSV):
            body = content(client.get(url + "?period=2026-10"))
            assert factories.FNR_CLASSIC.encode() not in body
            assert factories.DNR.encode() not in body


def test_another_municipality_gets_only_its_own(month: Month, merkantil_b: Any) -> None:
    client = client_for(merkantil_b)
    bases = read_csv(client.get(BASES_CSV + "?period=2026-10"))
    assert [r[1] for r in bases[1:-1]] == ["B-ONLY-1"]
    assert bases[1][0] == f"9998-{month.other_tenant.pk:09d}"
    lines = read_csv(client.get(LINES_CSV + "?period=2026-10"))
    assert {r[1] for r in lines[1:-1]} == {"B-ONLY-1"}
    sheets = read_xlsx(client.get(XLSX + "?period=2026-10&unit=HJT-SOR"))
    assert sheets["Grunnlag"][1:-1] == []  # kommune A's unit is no unit of B's
    body = content(client.get(XLSX + "?period=2026-10"))
    assert month.nord.source_reference.encode() not in body


def test_names_type_and_attachment(month: Month, merkantil_a: Any) -> None:
    client = client_for(merkantil_a)
    query = "?period=2026-10&unit=HJT-SOR&service=TA&status=received"
    for url, name in (
        (BASES_CSV, "fakturagrunnlag_9999_2026-10_HJT-SOR_TA_received.csv"),
        (LINES_CSV, "fakturalinjer_9999_2026-10_HJT-SOR_TA_received.csv"),
        (XLSX, "fakturagrunnlag_9999_2026-10_HJT-SOR_TA_received.xlsx"),
    ):
        response = client.get(url + query)
        assert response["Content-Disposition"] == f'attachment; filename="{name}"'
        assert "no-store" in response["Cache-Control"]
    plain = client.get(BASES_CSV + "?period=2026-10")
    assert plain["Content-Disposition"] == 'attachment; filename="fakturagrunnlag_9999_2026-10.csv"'


def test_each_download_is_audited(month: Month, merkantil_a: Any, admin_a: Any) -> None:
    client_for(merkantil_a).get(XLSX + "?period=2026-10&unit=HJT-SOR")
    client_for(admin_a).get(BASES_CSV + "?period=2026-10")
    client_for(admin_a).get(LINES_CSV + "?period=2026-10")
    events = list(AuditEvent.objects.filter(action="download.month").order_by("id"))
    assert [(e.actor_label, e.data["rows"], e.data["full_national_ids"]) for e in events] == [
        ("merkantil_a", 3 + 4, True),  # three bases and their four lines
        ("admin_a", 4, False),
        ("admin_a", 5, False),
    ]
    assert events[0].data["unit"] == "HJT-SOR" and events[0].data["period"] == "2026-10"
    assert events[0].data["file_name"] == "fakturagrunnlag_9999_2026-10_HJT-SOR.xlsx"
    assert all(e.municipality.number == "9999" for e in events)  # type: ignore[union-attr]


def test_the_list_links_to_its_selection(month: Month, lesetilgang_a: Any) -> None:
    page = client_for(lesetilgang_a).get(reverse("invoices:list") + "?period=2026-10&unit=HJT-SOR")
    body = page.content.decode()
    assert f'href="{XLSX}?period=2026-10&amp;unit=HJT-SOR">Last ned (Excel)</a>' in body
    assert f'href="{BASES_CSV}?period=2026-10&amp;unit=HJT-SOR">Last ned grunnlag (CSV)</a>' in body
    assert f'href="{LINES_CSV}?period=2026-10&amp;unit=HJT-SOR">Last ned linjer (CSV)</a>' in body


def test_english_readers_get_english_words_and_norwegian_numbers(
    month: Month, merkantil_a: Any, settings: Any
) -> None:
    client = client_for(merkantil_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    rows = read_csv(client.get(BASES_CSV + "?period=2026-10"))
    assert rows[0][0] == "Reference"
    # Written after the view returned: the reader's language must still hold.
    assert rows[3][6] == "Received" and rows[3][13] == "730,00"
    book = load_xlsx(client.get(XLSX + "?period=2026-10"))
    assert book.sheetnames == ["Invoice bases", "Lines"]


def test_only_get(month: Month, merkantil_a: Any, kommune_a: Municipality) -> None:
    client = client_for(merkantil_a)
    for url in (BASES_CSV, LINES_CSV, XLSX):
        assert client.post(url + "?period=2026-10").status_code == 405
    assert not AuditEvent.objects.filter(action="download.month").exists()
