"""A billing month as the clerk sees it in Chromium: the overview's charts and tables against the
data, acknowledging a warning, searching by fødselsnummer, the Kontrollrapport's files, sending
one unit to Visma, and a transfer page that ends right without a reload.

Every national id here is synthetic (tests/factories.py).
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.db import connections
from django.db.models import Count, Sum

from integrations import wakeup
from integrations.models import VismaSettings
from invoices import anomalies
from invoices.models import (
    Anomaly,
    AnomalyKind,
    AuditEvent,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    TransferRoute,
)
from tests import factories
from tests.anomalies.helpers import LAST3, PERIOD, bill, filler, kr, payer

pytestmark = pytest.mark.integration

DIMS = {"ansvar": "3100", "tjeneste": "25300", "prosjekt": "9"}


def kroner(ore: int) -> str:
    """Øre as the pages write money, with plain spaces: 1187550 → '11 875,50 kr'. Written here
    again rather than taken from the app, so a wrong filter cannot agree with itself."""
    sign = "−" if ore < 0 else ""
    whole, part = divmod(abs(ore), 100)
    return f"{sign}{whole:,}".replace(",", " ") + f",{part:02d} kr"


def plain(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split())


def cells(page: Any, selector: str) -> list[list[str]]:
    """The body rows of a table as lists of cell texts, spaces made plain."""
    rows = page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))"
    )
    return [[plain(c) for c in row] for row in rows]


def bars(page: Any, chart: str) -> list[str]:
    """Each bar's tooltip (its <title>): what a reader of the chart is told about that bar."""
    return [
        plain(t)
        for t in page.eval_on_selector_all(
            f"svg[data-testid={chart}] rect.chart-bar > title", "ts => ts.map(t => t.textContent)"
        )
    ]


# --- 1. Oversikt ----------------------------------------------------------------------------------


@pytest.fixture
def three_months(kommune_a: Municipality) -> dict[str, Any]:
    """Two units and two services over 2026-08..10; October is received, one basis has lines of
    both services, and one amount needs a thousands separator."""
    sor = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    pb = factories.service(kommune_a)
    ta = factories.service(kommune_a, "TA", name="Trygghetsalarm", agresso_article="TA01")
    exported = BasisStatus.EXPORTED
    factories.basis(kommune_a, period="2026-08", status=exported)
    factories.basis(
        kommune_a,
        period="2026-08",
        status=exported,
        unit_obj=sor,
        lines=[{"service": ta, "quantity": "1", "unit_price_ore": 35000}],
    )
    factories.basis(kommune_a, period="2026-09", status=exported)
    factories.basis(kommune_a, period="2026-09", status=exported, lines=[{"quantity": "2"}])
    factories.basis(
        kommune_a,
        period="2026-09",
        status=exported,
        unit_obj=sor,
        lines=[{}, {"service": ta, "quantity": "1", "unit_price_ore": 35000}],
    )
    received = BasisStatus.RECEIVED
    factories.basis(kommune_a, status=received)
    factories.basis(
        kommune_a,
        status=received,
        lines=[{"quantity": "2"}, {"service": ta, "quantity": "1", "unit_price_ore": 35000}],
    )
    factories.basis(
        kommune_a,
        status=received,
        unit_obj=sor,
        lines=[{"quantity": "12.5", "unit_price_ore": 95000}],
    )
    factories.basis(
        kommune_a,
        status=received,
        unit_obj=sor,
        lines=[{"service": ta, "quantity": "3", "unit_price_ore": 41152}],
    )
    return {"sor": sor, "pb": pb, "ta": ta}


def _by_service(period: str) -> dict[str, tuple[str, str]]:
    """Service name → (bases, sum) from the lines themselves."""
    rows = (
        InvoiceLine.objects.filter(basis__period=period)
        .values("service__name")
        .annotate(bases=Count("basis", distinct=True), total=Sum("amount_ore"))
    )
    return {r["service__name"]: (str(r["bases"]), kroner(r["total"])) for r in rows}


def _by_unit(period: str) -> dict[str, tuple[str, str]]:
    rows = (
        InvoiceBasis.objects.filter(period=period)
        .values("unit__name")
        .annotate(bases=Count("id"), total=Sum("total_ore"))
    )
    return {r["unit__name"]: (str(r["bases"]), kroner(r["total"])) for r in rows}


def test_the_overview_charts_and_tables_add_up_to_the_bases(
    page: Any, login: Any, merkantil_a: Any, three_months: dict[str, Any]
) -> None:
    login("merkantil_a")
    page.click("nav.mainnav >> text=Oversikt")
    page.wait_for_selector("svg[data-testid=chart-services]")
    assert plain(page.inner_text("h1")) == "Oversikt 2026-10"

    october = InvoiceBasis.objects.filter(period="2026-10")
    total = october.aggregate(n=Count("id"), s=Sum("total_ore"))
    assert page.inner_text("[data-testid=total-count]") == str(total["n"]) == "4"
    assert plain(page.inner_text("[data-testid=total-sum]")) == kroner(total["s"])

    # Per service and per unit: the table's count and sum are the data's, last month beside it,
    # and the chart's bars say the same sums.
    for kind, chart, expected, before in (
        ("service", "chart-services", _by_service("2026-10"), _by_service("2026-09")),
        ("unit", "chart-units", _by_unit("2026-10"), _by_unit("2026-09")),
    ):
        rows = cells(page, f"[data-testid=changes-{kind}]")
        assert {r[0]: (r[1], r[2]) for r in rows} == expected, kind
        assert {r[0]: r[3] for r in rows} == {name: before[name][1] for name in expected}, kind
        assert sorted(bars(page, chart)) == sorted(f"{n}: {s}" for n, (_b, s) in expected.items())
    assert _by_service("2026-10")["Trygghetsalarm"] == ("2", "1 584,56 kr")
    assert _by_unit("2026-10")["Hjemmetjenesten sone sør"] == ("2", "13 109,56 kr")

    # The trend: 13 months, the three with data as the data says, the others empty.
    trend = {r[0]: r[1:] for r in cells(page, "[data-testid=trend-table]")}
    assert len(trend) == 13 and list(trend)[-1] == "2026-10"
    for period in trend:
        months = InvoiceBasis.objects.filter(period=period).aggregate(
            n=Count("id"), lines=Sum("line_count"), s=Sum("total_ore")
        )
        assert trend[period] == [
            str(months["n"]),
            str(months["lines"] or 0),
            kroner(months["s"] or 0),
        ], period
    columns = bars(page, "chart-trend")
    assert len(columns) == 13
    assert columns[-1].endswith(f": 4 grunnlag, {kroner(total['s'])}")
    assert page.locator("svg[data-testid=chart-trend] rect.current").count() == 1

    # The next step for a received month is the Kontrollrapport of that month, and it opens.
    steps = page.locator("[data-testid=next-steps]")
    steps.locator("[data-testid=validation-summary]").wait_for()
    assert "4 grunnlag er mottatt" in plain(steps.inner_text())
    with page.expect_navigation():
        steps.locator("a.button.primary").click()
    assert page.url.endswith("/fakturagrunnlag/kontroll/?period=2026-10")
    assert page.inner_text("h1") == "Kontrollrapport"
    assert page.inner_text("[data-testid=checked]") == "4"


# --- 2. Avviksvarsler -----------------------------------------------------------------------------


@pytest.fixture
def warnings(kommune_a: Municipality) -> dict[str, Any]:
    """October's warnings, computed: a payer billed five times the usual, and a basis of 0 kr."""
    usual = payer(kommune_a, 0, name="Kari Nordmann")
    filler(kommune_a, [*LAST3, PERIOD])
    for period in LAST3:
        bill(kommune_a, period, usual, kr(1000))
    far = bill(kommune_a, PERIOD, usual, kr(5000), status=BasisStatus.RECEIVED)
    bill(
        kommune_a, PERIOD, payer(kommune_a, 2, name="Ola Nordmann"), 0, status=BasisStatus.RECEIVED
    )
    anomalies.refresh(kommune_a, PERIOD)
    return {"far": far}


def test_acknowledge_a_warning_with_a_note(
    page: Any, login: Any, merkantil_a: Any, warnings: dict[str, Any]
) -> None:
    note = "Nytt vedtak fra 1. oktober: fem besøk i uka"
    login("merkantil_a")
    page.goto("/oversikt/?period=2026-10")
    panel = page.locator("[data-testid=overview-anomalies]")
    assert "kvittert" not in panel.inner_text()
    with page.expect_navigation():
        panel.locator("a[title=payer_far_off]").click()

    row = page.locator("[data-testid=anomaly][data-kind=payer_far_off]")
    assert row.count() == 1 and warnings["far"].source_reference in row.inner_text()
    row.locator("summary:has-text('Kvitter ut')").click()
    row.locator("textarea[name=note]").fill(note)
    with page.expect_navigation():
        row.locator("button[type=submit]:has-text('Kvitter ut')").click()

    # Back on the same list: the warning stays, quieted, with who and why.
    assert "Varselet er kvittert ut." in page.inner_text(".messages")
    assert "kind=payer_far_off" in page.url
    row = page.locator("[data-testid=anomaly][data-kind=payer_far_off]")
    assert "acknowledged" in (row.get_attribute("class") or "")
    said = plain(row.inner_text())
    assert "Kvittert av merkantil_a" in said and note in said
    assert row.locator("textarea").count() == 0 and "Angre kvittering" in said

    stored = Anomaly.objects.get(kind=AnomalyKind.PAYER_FAR_OFF)
    assert stored.acknowledged_by == merkantil_a and stored.acknowledged_note == note
    assert stored.acknowledged_at is not None and stored.basis_id == warnings["far"].pk
    event = AuditEvent.objects.get(action="anomaly.acknowledge")
    assert event.actor == merkantil_a and event.object_id == str(stored.pk)
    assert event.data["note"] == note and event.data["kind"] == "payer_far_off"
    # The other warning is still open, and the overview counts the one acknowledged.
    assert not Anomaly.objects.get(kind=AnomalyKind.ZERO_AMOUNT).acknowledged
    page.goto("/oversikt/?period=2026-10")
    counts = plain(page.inner_text("[data-testid=overview-anomalies]"))
    assert "(1 kvittert)" in counts and counts.count("kvittert") == 1


# --- 3. Søk på fødselsnummer ----------------------------------------------------------------------


def test_search_by_national_id_finds_every_period_and_keeps_the_number_out_of_urls(
    page: Any, login: Any, merkantil_a: Any, kommune_a: Municipality
) -> None:
    person = factories.party(kommune_a, factories.FNR_OTHER, name="Per Hansen")
    theirs = {
        factories.basis(kommune_a, period=p, payer=person).source_reference: p
        for p in ("2026-08", "2026-09", "2026-10")
    }
    for p in ("2026-09", "2026-10"):
        factories.basis(kommune_a, period=p)  # Kari Nordmann, FNR_CLASSIC
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    login("merkantil_a")
    page.goto("/fakturagrunnlag/?period=2026-10")
    page.fill("#search-q", factories.FNR_OTHER)
    with page.expect_navigation():
        page.click("[data-testid=search-form] button[type=submit]")
    page.wait_for_selector("[data-testid=search-shown]")
    assert "alle perioder" in page.inner_text("[data-testid=search-shown]")

    rows = cells(page, "[data-testid=basis-rows]")
    assert {r[0]: r[1] for r in rows} == theirs  # reference → period, across the periods
    masked = factories.FNR_OTHER[:6] + "*****"
    assert all(r[2] == f"Per Hansen {masked}" for r in rows)
    assert factories.FNR_OTHER not in page.inner_text("[data-testid=basis-rows]")
    page.wait_for_selector("#summary [data-testid=total-count]")

    # The number was posted, never put in a URL: not the page's, nor any request's (htmx too).
    assert "sok=" in page.url and factories.FNR_OTHER not in page.url
    assert not [u for u in urls if factories.FNR_OTHER in u]
    assert factories.FNR_OTHER not in page.evaluate("location.href + document.referrer")


# --- 4. Kontrollrapporten og måneden som filer ---------------------------------------------------


@pytest.fixture
def findings(kommune_a: Municipality) -> dict[str, InvoiceBasis]:
    """One basis with an error and a warning, one with a warning only, one with an error only,
    and one clean."""
    homeless = factories.party(
        kommune_a, factories.FNR_2032, name="Uten Adresse", address1="", postcode="", place=""
    )
    old = factories.service(kommune_a, "GML", name="Gammel tjeneste", billable=False)
    received = BasisStatus.RECEIVED
    return {
        "both": factories.basis(
            kommune_a,
            payer=homeless,
            status=received,
            lines=[{"quantity": "12.5", "unit_price_ore": 95000, "dimensions": {"objekt": "77"}}],
        ),
        "warning": factories.basis(kommune_a, lines=[{"quantity": "0"}], status=received),
        "error": factories.basis(kommune_a, lines=[{"service": old, "quantity": "1"}]),
        "clean": factories.basis(kommune_a, status=received),
    }


def _ore(text: str) -> int:
    """'11 875,00 kr' or '11875,00' → 1187500."""
    digits = plain(text).removesuffix(" kr").replace(" ", "").replace("−", "-")
    return int(Decimal(digits.replace(",", ".")) * 100)


def _csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline=""), delimiter=";"))


def test_the_kontrollrapport_downloads_say_what_the_page_says(
    page: Any, login: Any, merkantil_a: Any, findings: dict[str, InvoiceBasis], tmp_path: Path
) -> None:
    login("merkantil_a")
    page.goto("/fakturagrunnlag/kontroll/?period=2026-10")
    with page.expect_navigation():
        page.click("text=Vis også grunnlag med bare advarsler")
    checked = page.inner_text("[data-testid=checked]")
    blocking = page.inner_text("[data-testid=blocking]")
    warned = page.inner_text(".summary .value.warning")
    assert (checked, blocking, warned) == ("4", "2", "2")
    shown = cells(page, "[data-testid=report]")
    refs = [r[0] for r in shown]
    assert sorted(refs) == sorted(
        findings[k].source_reference for k in ("both", "warning", "error")
    )
    page_sum = sum(_ore(r[3]) for r in shown)
    assert page_sum == findings["both"].total_ore + findings["error"].total_ore
    issues = page.locator("[data-testid=report] td li").count()
    summary = f"Kontrollert: {checked} grunnlag. Med feil: {blocking}. Med advarsler: {warned}."

    with page.expect_download() as info:
        page.click("[data-testid=downloads] >> text=Last ned (CSV)")
    assert info.value.suggested_filename == "kontrollrapport_9999_2026-10.csv"
    rows = _csv(Path(info.value.path()))
    assert rows[0][:2] == ["Referanse", "Kildereferanse"] and rows[0][5] == "Sum kr"
    body, total = rows[1:-1], rows[-1]
    assert len(body) == issues == 4  # one row per finding, as the page lists them
    assert {r[1] for r in body} == set(refs)
    assert total[0] == f"Sum, {len(shown)} grunnlag med funn"
    assert _ore(total[5]) == page_sum and total[7] == summary

    with page.expect_download() as info:
        page.click("[data-testid=downloads] >> text=Last ned (Excel)")
    assert info.value.suggested_filename == "kontrollrapport_9999_2026-10.xlsx"
    saved = tmp_path / "kontrollrapport.xlsx"
    info.value.save_as(saved)
    sheet = list(openpyxl.load_workbook(saved)["Kontrollrapport"].iter_rows(values_only=True))
    assert [r[1] for r in sheet[1:-1]] == [r[1] for r in body]
    assert round(Decimal(str(sheet[-1][5])) * 100) == page_sum and sheet[-1][7] == summary


def test_the_months_lines_download_adds_up_to_the_list(
    page: Any, login: Any, merkantil_a: Any, findings: dict[str, InvoiceBasis]
) -> None:
    """The list's xlsx and bases csv are in test_downloads.py; here the lines csv."""
    login("merkantil_a")
    page.goto("/fakturagrunnlag/?period=2026-10")
    page.wait_for_selector("#summary [data-testid=total-sum]")
    shown = _ore(page.inner_text("#summary [data-testid=total-sum]"))
    with page.expect_download() as info:
        page.click("text=Last ned linjer (CSV)")
    assert info.value.suggested_filename == "fakturalinjer_9999_2026-10.csv"
    rows = _csv(Path(info.value.path()))
    lines = InvoiceLine.objects.filter(basis__period="2026-10").count()
    assert len(rows) == lines + 2 and rows[-1][0] == f"Sum, {lines} linjer"
    assert _ore(rows[-1][8]) == shown == sum(b.total_ore for b in findings.values())
    assert sum(_ore(r[8]) for r in rows[1:-1]) == shown


# --- 5. Send one unit to Visma ------------------------------------------------------------------


def _visma(municipality: Municipality, simulator: Any) -> None:
    visma = VismaSettings(
        municipality=municipality,
        selskap="1",
        base_url=simulator.url,
        username="demo",
        enabled=True,
    )
    visma.set_password("demo-visma-2026")
    visma.save()
    factories.accounting(municipality, transfer_route=TransferRoute.VISMA_API)


@pytest.fixture
def two_units(kommune_a: Municipality) -> dict[str, list[InvoiceBasis]]:
    """Two approved bases in each of HJT-NORD and HJT-SOR."""
    sor = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    lines = [{"dimensions": DIMS}]
    return {
        "nord": [factories.basis(kommune_a, lines=lines) for _i in range(2)],
        "sor": [
            factories.basis(kommune_a, unit_obj=sor, lines=lines),
            factories.basis(
                kommune_a,
                unit_obj=sor,
                lines=[{"quantity": "12.5", "unit_price_ore": 95000, "dimensions": DIMS}],
            ),
        ],
    }


def stored_references(simulator: Any) -> set[str]:
    """The referanser the simulated Visma has stored (company 1)."""
    per = simulator.stats()["per_referanse"].get("1", {})
    return {ref for ref, counts in per.items() if counts["stored"]}


def test_a_unit_filter_sends_only_that_unit(
    page: Any,
    login: Any,
    merkantil_a: Any,
    kommune_a: Municipality,
    two_units: dict[str, list[InvoiceBasis]],
    inline_tasks: None,
    simulator: Any,
) -> None:
    _visma(kommune_a, simulator)
    sor = two_units["sor"]
    total = kroner(sum(b.total_ore for b in sor))
    assert total == "12 735,00 kr"
    login("merkantil_a")
    page.goto("/fakturagrunnlag/?period=2026-10&unit=HJT-SOR")
    button = page.locator("[data-testid=visma-send] a.primary")
    assert plain(button.inner_text()) == f"Send til Visma (2 grunnlag, {total})"
    with page.expect_navigation():
        button.click()
    assert page.inner_text("[data-testid=selection]") == (
        "2026-10, Hjemmetjenesten sone sør, alle tjenester"
    )
    assert page.inner_text("[data-testid=confirm-count]") == "2"
    assert plain(page.inner_text("[data-testid=confirm-total]")) == total
    assert page.inner_text("[data-testid=confirm-send]") == "Bekreft og send 2 grunnlag"
    page.click("[data-testid=confirm-send]")
    page.wait_for_selector("[data-testid=transfer-status][data-status=done]")

    assert stored_references(simulator) == {b.reference for b in sor}
    assert simulator.stats()["stored_total"] == 2
    status = dict(InvoiceBasis.objects.values_list("pk", "status"))
    assert {status[b.pk] for b in sor} == {BasisStatus.SENT}
    assert {status[b.pk] for b in two_units["nord"]} == {BasisStatus.APPROVED}


# --- 6. The transfer page ends right without a reload ---------------------------------------------


@pytest.fixture
def held_sends(inline_tasks: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The send starts in a thread of its own once the test sets the event, so the transfer page
    is first seen waiting and then has to follow the work by its polling alone."""
    release = threading.Event()
    threads: list[threading.Thread] = []
    send = wakeup.enqueue_send

    def held(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
        def run() -> None:
            try:
                release.wait(30)
                send(transfer_id, copies=copies, countdown=countdown)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run, daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(wakeup, "enqueue_send", held)
    yield release
    release.set()
    for thread in threads:
        thread.join(timeout=30)


def _attempt_rows(page: Any) -> list[list[str]]:
    """Each attempt row of the transfer page: [basis, payer, state, answer, Visma-ID, attempts,
    messages]."""
    return cells(page, "#transfer-rows table")


def _stat(page: Any, state: str) -> str:
    return page.inner_text(f"[data-testid=transfer-status] .stat[data-state={state}] .value")


def test_the_transfer_rows_and_summary_agree_at_the_end_without_a_reload(
    page: Any,
    login: Any,
    merkantil_a: Any,
    kommune_a: Municipality,
    two_units: dict[str, list[InvoiceBasis]],
    held_sends: threading.Event,
    simulator: Any,
) -> None:
    _visma(kommune_a, simulator)
    login("merkantil_a")
    page.goto("/visma/send/?period=2026-10")
    assert page.inner_text("[data-testid=confirm-count]") == "4"
    with page.expect_navigation():
        page.click("[data-testid=confirm-send]")
    status = page.locator("[data-testid=transfer-status]")
    assert status.get_attribute("data-status") == "queued"
    waiting = _attempt_rows(page)
    assert len(waiting) == 4 and {(r[2], r[5]) for r in waiting} == {("Venter", "0")}
    assert _stat(page, "pending") == "4" and _stat(page, "sent") == "0"
    page.evaluate("window.notReloaded = true")

    held_sends.set()
    page.wait_for_selector("[data-testid=transfer-status][data-status=done]", timeout=20_000)
    assert page.evaluate("window.notReloaded === true")  # the same document: polled, not reloaded
    rows = _attempt_rows(page)
    assert len(rows) == 4
    assert {r[2] for r in rows} == {"Mottatt av Visma"}
    assert all(int(r[5]) >= 1 for r in rows), rows
    assert {r[0].split()[0] for r in rows} == {
        b.source_reference for bases in two_units.values() for b in bases
    }
    assert _stat(page, "sent") == str(len(rows)) and _stat(page, "pending") == "0"
    assert "4 av 4 grunnlag ferdigbehandlet" in plain(status.inner_text())
    assert len(stored_references(simulator)) == 4


def test_a_test_transfer_shows_its_result_and_locks_nothing(
    page: Any,
    login: Any,
    superbruker_a: Any,
    kommune_a: Municipality,
    two_units: dict[str, list[InvoiceBasis]],
    inline_tasks: None,
    simulator: Any,
) -> None:
    _visma(kommune_a, simulator)
    chosen = two_units["sor"]
    login("superbruker_a")
    page.goto("/fakturagrunnlag/?period=2026-10")
    with page.expect_navigation():
        page.click("[data-testid=visma-send] >> text=Testoverføring")
    for basis in chosen:
        page.check(f"#b{basis.pk}")
    with page.expect_navigation():
        page.click("text=Start testoverføring")
    page.wait_for_selector("[data-testid=transfer-status][data-status=done]")
    assert "Testoverføring" in page.inner_text("h1")
    rows = _attempt_rows(page)
    assert {r[0].split()[0] for r in rows} == {b.source_reference for b in chosen}
    assert {r[2] for r in rows} == {"TEST: Godkjent i test"}
    assert _stat(page, "validated") == "2"
    # Visma only checked them: nothing stored there, nothing changed here.
    assert simulator.stats()["stored_total"] == 0
    assert set(InvoiceBasis.objects.values_list("status", flat=True)) == {BasisStatus.APPROVED}
