"""The export history and the transfers to Visma as downloads: one row per run as the pages show
them, totals that add up to the pages' amounts, a transfer's attempts with national ids as the role
may see them, and nothing of another municipality."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from exports.models import Export
from integrations.models import BasisVismaStatus, Transfer, TransferAttempt
from invoices.models import AuditEvent, Municipality
from tests import factories
from tests.downloads.conftest import Month
from tests.downloads.helpers import (
    as_dicts,
    client_for,
    content,
    csv_ore,
    read_csv,
    read_xlsx,
    text_ore,
    xlsx_ore,
)

pytestmark = pytest.mark.django_db

HISTORY_CSV = reverse("exports:history_csv")
HISTORY_XLSX = reverse("exports:history_xlsx")
TRANSFERS_CSV = reverse("integrations:transfers_csv")
TRANSFERS_XLSX = reverse("integrations:transfers_xlsx")


def _export(m: Municipality, user: Any, **values: Any) -> Export:
    done = values.get("status", "done") == "done"
    defaults = {
        "format": "visma",
        "layout": "extended",
        "period": "2026-10",
        "status": "done",
        "file_name": f"VISMA_{m.number}_2026-10_{Export.objects.count() + 1:03d}.txt"
        if done
        else "",
        "file": "exports/x.txt" if done else "",
        "sha256": "0" * 64 if done else "",
        "created_by": user,
    }
    return Export.objects.create(municipality=m, **{**defaults, **values})


@pytest.fixture
def exports(
    kommune_a: Municipality, kommune_b: Municipality, merkantil_a: Any, merkantil_b: Any
) -> list[Export]:
    first = _export(kommune_a, merkantil_a, count=3, total_ore=123456, finished_at=timezone.now())
    test = _export(
        kommune_a,
        merkantil_a,
        count=1,
        total_ore=-5000,
        is_test=True,
        format="agresso",
        layout="classic",
    )
    refused = _export(kommune_a, merkantil_a, status="refused", count=9, total_ore=999)
    _export(kommune_b, merkantil_b, count=7, total_ore=777700, file_name="B_ONLY.txt")
    return [first, test, refused]


def _page_amounts(html: str, table_marker: str) -> list[int]:
    table = html[html.index(table_marker) :]
    table = table[: table.index("</table>")]
    cells = re.findall(r'<td class="num">([^<]*)</td>', table)
    amounts = [c for c in cells if "," in c]
    return [text_ore(a) for a in amounts]


def test_export_history_has_one_row_per_export(exports: list[Export], merkantil_a: Any) -> None:
    client = client_for(merkantil_a)
    first, test, refused = exports
    rows = read_csv(client.get(HISTORY_CSV))
    data = as_dicts(rows)
    # Newest first, as on the page.
    assert [r["Nr."] for r in data] == [str(refused.pk), str(test.pk), str(first.pk)]
    assert data[2]["Format"] == "Visma Fakturering" and data[2]["Variant"] == "Utvidet (U)"
    assert (data[2]["Status"], data[2]["Antall grunnlag"], data[2]["Sum kr"]) == (
        "Ferdig",
        "3",
        "1234,56",
    )
    assert data[2]["Fil"] == first.file_name and data[2]["SHA-256"] == "0" * 64
    assert data[2]["Av"] == "merkantil_a" and data[2]["Periode"] == "2026-10"
    assert data[2]["Laget"] == first.created_at.astimezone(datetime.UTC).astimezone(
        timezone.get_default_timezone()
    ).strftime("%d.%m.%Y %H:%M")
    assert (data[1]["Test"], data[1]["Sum kr"], data[1]["Variant"]) == (
        "Ja",
        "-50,00",
        "Klassisk (1905 tegn)",
    )
    # Like the page: a refused export has neither count nor sum.
    assert (data[0]["Status"], data[0]["Antall grunnlag"], data[0]["Sum kr"]) == (
        "Stoppet av kontrollen",
        "",
        "",
    )
    assert rows[-1][0] == "Sum, 3 eksporter"
    assert (rows[-1][12], rows[-1][13]) == ("4", "1184,56")


def test_export_history_totals_match_the_page(exports: list[Export], superbruker_a: Any) -> None:
    client = client_for(superbruker_a)
    page = client.get(reverse("exports:history")).content.decode()
    shown = _page_amounts(page, 'data-testid="export-history"')
    assert sorted(shown) == sorted([123456, -5000])
    rows = read_csv(client.get(HISTORY_CSV))
    assert csv_ore(rows[-1][13]) == sum(shown)
    sheet = read_xlsx(client.get(HISTORY_XLSX))["Eksporthistorikk"]
    assert xlsx_ore(sheet[-1][13]) == sum(shown)
    assert [r[0] for r in sheet[1:-1]] == [int(r[0]) for r in rows[1:-1]]
    assert isinstance(sheet[1][1], datetime.datetime) and sheet[3][12] == 3


def test_export_history_is_the_own_municipalitys_and_billing_only(
    exports: list[Export], merkantil_b: Any, admin_a: Any
) -> None:
    rows = as_dicts(read_csv(client_for(merkantil_b).get(HISTORY_CSV)))
    assert [r["Fil"] for r in rows] == ["B_ONLY.txt"]
    assert client_for(admin_a).get(HISTORY_CSV).status_code == 403
    assert client_for(admin_a).get(HISTORY_XLSX).status_code == 403
    today = timezone.localdate().isoformat()
    response = client_for(merkantil_b).get(HISTORY_XLSX)
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="eksporthistorikk_9998_{today}.xlsx"'
    )


@pytest.fixture
def transfers(
    month: Month, kommune_a: Municipality, kommune_b: Municipality, merkantil_a: Any
) -> list[Transfer]:
    first = Transfer.objects.create(
        municipality=kommune_a,
        created_by=merkantil_a,
        period="2026-10",
        status="done",
        basis_count=2,
        total_ore=159000,
        counts={"sent": 1, "rejected": 1},
        finished_at=timezone.now(),
    )
    retry = Transfer.objects.create(
        municipality=kommune_a,
        period="2026-10",
        status="stopped",
        retry_of=first,
        basis_count=1,
        total_ore=73000,
        counts={"failed": 1},
        stop_reason="Visma svarer ikke",
    )
    test = Transfer.objects.create(
        municipality=kommune_a,
        is_test=True,
        status="done",
        basis_count=1,
        total_ore=86000,
        counts={"validated": 1},
    )
    Transfer.objects.create(municipality=kommune_b, period="2026-10", basis_count=5, total_ore=5)
    TransferAttempt.objects.create(
        transfer=first,
        basis=month.nord,
        reference=month.nord.reference,
        state="sent",
        grunnlag_id="G-1",
        visma_status="OK",
        send_count=1,
        last_sent_at=timezone.now(),
    )
    TransferAttempt.objects.create(
        transfer=first,
        basis=month.sor,
        reference=month.sor.reference,
        state="rejected",
        send_count=1,
        messages=[{"kode": "V12", "tekst": "Ukjent vare", "felt": "vare"}],
    )
    BasisVismaStatus.objects.create(
        basis=month.nord,
        tilstand="fakturert",
        fakturanummer="0012345",
        kid="0000123456782",
        checked_at=timezone.now(),
    )
    return [first, retry, test]


def test_transfers_have_one_row_per_transfer(transfers: list[Transfer], lesetilgang_a: Any) -> None:
    client = client_for(lesetilgang_a)
    first, retry, test = transfers
    rows = read_csv(client.get(TRANSFERS_CSV))
    data = as_dicts(rows)
    assert [r["Nr."] for r in data] == [str(test.pk), str(retry.pk), str(first.pk)]
    assert (
        data[2]["Av"],
        data[2]["Status"],
        data[2]["Grunnlag"],
        data[2]["Sendt"],
        data[2]["Avvist"],
    ) == (
        "merkantil_a",
        "Ferdig",
        "2",
        "1",
        "1",
    )
    assert data[2]["Sum kr"] == "1590,00" and data[2]["Ferdig"].count(".") == 2
    assert (data[1]["Ny sending av"], data[1]["Feilet"], data[1]["Årsak til stopp"]) == (
        str(first.pk),
        "1",
        "Visma svarer ikke",
    )
    assert (data[1]["Av"], data[1]["Status"]) == ("system", "Stoppet")
    # A test transfer's "sent" are the bases Visma validated, as on the page.
    assert (data[0]["Test"], data[0]["Sendt"]) == ("Ja", "1")
    assert rows[-1][0] == "Sum, 3 overføringer"
    assert rows[-1][9:14] == ["4", "2", "1", "1", "3180,00"]


def test_transfer_totals_match_the_page(transfers: list[Transfer], merkantil_a: Any) -> None:
    client = client_for(merkantil_a)
    page = client.get(reverse("integrations:transfers")).content.decode()
    shown = _page_amounts(page, '<table class="list">')
    assert len(shown) == 3
    assert csv_ore(read_csv(client.get(TRANSFERS_CSV))[-1][13]) == sum(shown)
    sheet = read_xlsx(client.get(TRANSFERS_XLSX))["Overføringer"]
    assert xlsx_ore(sheet[-1][13]) == sum(shown)
    assert sheet[1][6] == "Ja" and isinstance(sheet[1][1], datetime.datetime)


def test_transfers_are_the_own_municipalitys(transfers: list[Transfer], merkantil_b: Any) -> None:
    rows = as_dicts(read_csv(client_for(merkantil_b).get(TRANSFERS_CSV)))
    assert [r["Grunnlag"] for r in rows] == ["5"]


def _attempts_url(transfer: Transfer, extension: str) -> str:
    return reverse(f"integrations:attempts_{extension}", kwargs={"pk": transfer.pk})


@pytest.mark.parametrize(
    ("persona", "full"),
    [("merkantil_a", True), ("superbruker_a", True), ("admin_a", False), ("lesetilgang_a", False)],
)
def test_a_transfers_attempts(
    transfers: list[Transfer],
    month: Month,
    request: pytest.FixtureRequest,
    persona: str,
    full: bool,
) -> None:
    client = client_for(request.getfixturevalue(persona))
    first = transfers[0]
    rows = read_csv(client.get(_attempts_url(first, "csv")))
    data = as_dicts(rows)
    assert [r["Kildereferanse"] for r in data] == [
        month.nord.source_reference,
        month.sor.source_reference,
    ]
    sent, rejected = data
    assert sent["Referanse"] == month.nord.reference
    assert (sent["Tilstand"], sent["grunnlagId"], sent["Fakturanummer"], sent["KID"]) == (
        "Mottatt av Visma",
        "G-1",
        "0012345",
        "0000123456782",
    )
    assert (rejected["Tilstand"], rejected["Meldinger"]) == ("Avvist", "V12: Ukjent vare (vare)")
    ids = {r["Betaler"].lstrip("'"): r["Betalers fødselsnr./org.nr."] for r in data}
    assert ids["Kari Nordmann"] == (
        factories.FNR_CLASSIC if full else factories.FNR_CLASSIC[:6] + "*****"
    )
    assert ids["=Ola Nordmann"] == (factories.DNR if full else factories.DNR[:6] + "*****")
    # The sum of the transfer's bases is the transfer's sum on its page.
    assert rows[-1][0] == "Sum, 2 grunnlag" and csv_ore(rows[-1][14]) == 86000 + 73000
    sheet = read_xlsx(client.get(_attempts_url(first, "xlsx")))["Grunnlag"]
    assert [r[1] for r in sheet[1:-1]] == [month.nord.source_reference, month.sor.source_reference]
    assert sheet[1][13] == "0000123456782" and xlsx_ore(sheet[-1][14]) == first.total_ore
    if not full:
        for extension in ("csv", "xlsx"):
            body = content(client.get(_attempts_url(first, extension)))
            assert factories.FNR_CLASSIC.encode() not in body and factories.DNR.encode() not in body


def test_attempts_follow_the_pages_state_filter(
    transfers: list[Transfer], merkantil_a: Any
) -> None:
    client = client_for(merkantil_a)
    first = transfers[0]
    rows = read_csv(client.get(_attempts_url(first, "csv") + "?state=rejected"))
    assert [r[4] for r in rows[1:-1]] == ["Avvist"]
    detail = client.get(
        reverse("integrations:transfer_detail", kwargs={"pk": first.pk}) + "?state=rejected"
    )
    assert (
        f'href="{_attempts_url(first, "csv")}?state=rejected">Last ned (CSV)</a>'
        in detail.content.decode()
    )
    response = client.get(_attempts_url(first, "xlsx") + "?state=rejected")
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="overforing_9999_{first.pk}_rejected.xlsx"'
    )


def test_attempts_are_audited(transfers: list[Transfer], admin_a: Any) -> None:
    first = transfers[0]
    client_for(admin_a).get(_attempts_url(first, "xlsx") + "?state=sent")
    event = AuditEvent.objects.get(action="download.transfer_attempts")
    assert event.actor_label == "admin_a"
    assert event.data == {
        "file_name": f"overforing_9999_{first.pk}_sent.xlsx",
        "rows": 1,
        "transfer": first.pk,
        "full_national_ids": False,
        "state": "sent",
    }


def test_another_municipalitys_transfer_is_a_404(
    transfers: list[Transfer], merkantil_b: Any
) -> None:
    client = client_for(merkantil_b)
    for extension in ("csv", "xlsx"):
        assert client.get(_attempts_url(transfers[0], extension)).status_code == 404
    assert not AuditEvent.objects.filter(action="download.transfer_attempts").exists()


def test_the_history_pages_link_to_their_files(
    transfers: list[Transfer], exports: list[Export], merkantil_a: Any
) -> None:
    client = client_for(merkantil_a)
    history = client.get(reverse("exports:history")).content.decode()
    assert f'href="{HISTORY_XLSX}">Last ned (Excel)</a>' in history
    assert f'href="{HISTORY_CSV}">Last ned (CSV)</a>' in history
    listing = client.get(reverse("integrations:transfers")).content.decode()
    assert f'href="{TRANSFERS_XLSX}">Last ned (Excel)</a>' in listing
    assert f'href="{TRANSFERS_CSV}">Last ned (CSV)</a>' in listing
