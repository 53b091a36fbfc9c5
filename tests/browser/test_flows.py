"""The month's two routes as billing staff click them, in a real browser.

Celery runs tasks inline here (`inline_tasks` in conftest.py: the same task code a worker runs), so
the pages' htmx polling sees the work finish; the worker processes themselves are proven in
tests/integrations.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from exports.demo import seed_demo as seed_export_profile
from integrations.models import VismaSettings
from invoices.models import BasisStatus, InvoiceBasis, Municipality, TransferRoute
from tests import factories

pytestmark = pytest.mark.integration

DIMS = {"ansvar": "3100", "tjeneste": "25300", "prosjekt": "9"}


@pytest.fixture
def month(kommune_a: Municipality) -> list[InvoiceBasis]:
    seed_export_profile(kommune_a)
    org = factories.party(kommune_a, org_number=factories.ORGNR, name="Omsorg AS")
    return [
        factories.basis(kommune_a, status=BasisStatus.RECEIVED, lines=[{"dimensions": DIMS}]),
        factories.basis(
            kommune_a,
            status=BasisStatus.RECEIVED,
            payer=org,
            lines=[{"quantity": "12.50", "unit_price_ore": 9500, "dimensions": DIMS}],
        ),
    ]


def _approve_month(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("nav.mainnav >> text=Fakturagrunnlag")
    page.wait_for_load_state()
    page.click("[data-testid=approve-period]")
    page.wait_for_load_state()
    assert "2 fakturagrunnlag godkjent" in page.inner_text(".messages")


def test_approve_export_and_download_the_same_bytes(
    page: Any,
    login: Any,
    merkantil_a: Any,
    month: list[InvoiceBasis],
    inline_tasks: None,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    login("merkantil_a")
    _approve_month(page)
    # 860,00 + 1 187,50 kr waiting for the file, shown before anyone clicks.
    preview = page.inner_text("[data-testid=export-preview]").replace("\u00a0", " ")
    assert preview == "2 godkjente grunnlag, 2 047,50 kr"
    page.click("[data-testid=export-button]")
    page.wait_for_selector("[data-testid=export-status][data-status=done]")
    sha256 = page.inner_text("[data-testid=export-sha256]")
    assert page.inner_text("[data-testid=export-count]") == "2"
    with page.expect_download() as info:
        page.click("[data-testid=download]")
    data = Path(info.value.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha256
    assert data.startswith(b"ST") and data.endswith(b"\r\n")
    assert set(InvoiceBasis.objects.values_list("status", flat=True)) == {BasisStatus.EXPORTED}


def test_approve_and_send_to_visma(
    page: Any,
    login: Any,
    merkantil_a: Any,
    kommune_a: Municipality,
    month: list[InvoiceBasis],
    inline_tasks: None,
    simulator: Any,
) -> None:
    visma = VismaSettings(
        municipality=kommune_a, selskap="1", base_url=simulator.url, username="demo", enabled=True
    )
    visma.set_password("demo-visma-2026")
    visma.save()
    factories.accounting(kommune_a, transfer_route=TransferRoute.VISMA_API)
    login("merkantil_a")
    _approve_month(page)
    page.click("[data-testid=visma-send] a.primary")
    page.wait_for_load_state()
    page.click("[data-testid=confirm-send]")
    page.wait_for_selector("[data-testid=transfer-status][data-status=done]")
    stats = simulator.stats()
    assert stats["stored_unique"] == 2 and stats["stored_more_than_once"] == []
    assert set(InvoiceBasis.objects.values_list("status", flat=True)) == {BasisStatus.SENT}
    # Each basis shows what Visma answered.
    page.click(f"text={month[0].source_reference}")
    page.wait_for_selector("[data-testid=visma-basis]")
    panel = page.inner_text("[data-testid=visma-basis]")
    assert "Mottatt av Visma" in panel and "G-00000" in panel
