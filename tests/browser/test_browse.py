"""Billing staff log in, see the month with its totals, and open a basis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from invoices.models import Municipality
from tests import factories

pytestmark = pytest.mark.integration


def test_login_list_and_detail(
    page: Any, login: Any, merkantil_a: Any, kommune_a: Municipality
) -> None:
    b1 = factories.basis(kommune_a, lines=[{"quantity": Decimal("4.00"), "unit_price_ore": 21500}])
    factories.basis(
        kommune_a,
        payer=factories.party(kommune_a, factories.DNR, name="Áile Čoavdda"),
        lines=[{"quantity": Decimal("1.50"), "unit_price_ore": 30000}],
    )
    login("merkantil_a")
    # Billing staff land on the month's overview; the same numbers as the list below.
    assert page.url.endswith("/oversikt/")
    assert page.inner_text("[data-testid=total-count]") == "2"
    assert page.inner_text("[data-testid=total-sum]").replace("\u00a0", " ") == "1 310,00 kr"
    page.click("nav.mainnav >> text=Fakturagrunnlag")
    page.wait_for_load_state()
    page.wait_for_selector("[data-testid=total-sum]")
    assert page.inner_text("[data-testid=total-count]") == "2"
    # 860,00 + 450,00 kr, shown the Norwegian way.
    assert page.inner_text("[data-testid=total-sum]").replace("\u00a0", " ") == "1 310,00 kr"
    body = page.inner_text("body")
    assert "Áile Čoavdda" in body
    assert "558990*****" in body
    assert "55899010042" not in body  # lists show masked ids only
    page.click(f"text={b1.source_reference}")
    page.wait_for_load_state()
    assert b1.reference in page.inner_text("body")


def test_wrong_password_shows_norwegian_error(page: Any, login: Any, merkantil_a: Any) -> None:
    login("merkantil_a", "wrong-password")
    assert "Feil brukernavn eller passord" in page.inner_text("body")


def test_switching_municipality_in_the_header_takes_the_admin_pages_away(
    page: Any, login: Any, admin_a_lese_b: Any, kommune_a: Municipality, kommune_b: Municipality
) -> None:
    """Systemadministrator in Demo kommune, lesetilgang in Nabokommune: after choosing Nabokommune
    in the header the admin menu is gone and its page answers 403."""
    login("admin_a_lese_b")
    settings_link = "a[href='/visma/innstillinger/']"
    page.goto("/")
    page.wait_for_load_state()
    assert page.locator(settings_link).count() == 1
    assert not page.is_visible(settings_link)  # inside the closed Administrasjon menu
    page.click("summary:has-text('Administrasjon')")
    page.click(settings_link)
    assert page.url.endswith("/visma/innstillinger/")
    assert "Demo kommune" in page.inner_text("header select[name=municipality] option:checked")

    with page.expect_navigation():
        page.select_option("header select[name=municipality]", str(kommune_b.pk))
    page.wait_for_load_state()
    assert page.inner_text("header select[name=municipality] option:checked") == "Nabokommune"
    assert "Lesetilgang" in page.inner_text("header .role")
    assert page.locator(settings_link).count() == 0
    response = page.goto("/visma/innstillinger/")
    assert response is not None and response.status == 403
