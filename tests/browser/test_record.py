"""In Chromium, under the Content-Security-Policy: a clerk credits part of a line and then the
rest through the form, the basis page tells the story, and the administrator finds it in *Logg*."""

from __future__ import annotations

from typing import Any

import pytest

from invoices.models import BasisStatus, InvoiceBasis, Municipality
from tests import factories

pytestmark = pytest.mark.integration


def test_credit_in_parts_then_read_the_story_and_the_log(
    page: Any, login: Any, merkantil_a: Any, admin_a: Any, kommune_a: Municipality
) -> None:
    sent = factories.basis(kommune_a, status=BasisStatus.SENT, source_reference="HT-NETT")
    login("merkantil_a")
    page.goto(f"/fakturagrunnlag/{sent.pk}/")
    page.click("[data-testid=credit-link]")
    page.wait_for_selector("[data-testid=credit-form]")
    page.fill("input[name=linje_1]", "1,5")
    page.fill("textarea[name=reason]", "Ett besøk ble avlyst")
    with page.expect_navigation():
        page.click("text=Lag kreditnota")
    assert "Kreditnota HT-NETT-K1 er laget" in page.inner_text("body")

    page.goto(f"/fakturagrunnlag/{sent.pk}/krediter/")
    page.fill("textarea[name=reason]", "Resten")
    with page.expect_navigation():
        page.click("text=Krediter alt som gjenstår")
    page.goto(f"/fakturagrunnlag/{sent.pk}/")
    assert page.locator("[data-testid=credit-link]").count() == 0
    story = page.inner_text("[data-testid=basis-timeline]")
    assert story.index("HT-NETT-K1") < story.index("HT-NETT-K2")
    assert "Ett besøk ble avlyst" in story
    notes = InvoiceBasis.objects.filter(credits=sent)
    assert sum(n.total_ore for n in notes) == -sent.total_ore

    page.context.clear_cookies()
    login("admin_a")
    page.goto("/")
    page.click("summary:has-text('Administrasjon')")  # the administrator's pages, in one menu
    page.click("nav.mainnav >> text=Logg")
    page.fill("input[name=referanse]", "HT-NETT")
    with page.expect_navigation():
        page.click("[data-testid=audit-filters] button[type=submit]")
    rows = page.inner_text("[data-testid=audit-log]")
    assert rows.count("Kreditnota laget") == 2
    assert "Resten" in rows and "merkantil_a" in rows
