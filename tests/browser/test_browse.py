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
    assert page.url.endswith("/fakturagrunnlag/")
    assert page.inner_text("[data-testid=total-count]") == "2"
    # 860,00 + 450,00 kr, shown the Norwegian way.
    assert page.inner_text("[data-testid=total-sum]").replace("\u00a0", " ") == "1 310,00"
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
