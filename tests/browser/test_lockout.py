"""A user locked out after too many wrong passwords, unlocked by the systemadministrator from the
menu, logs in again: the whole round in a real browser, under the page watch of conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

pytestmark = pytest.mark.integration


def test_locked_out_then_unlocked_by_the_administrator(
    page: Any, login: Any, merkantil_a: Any, admin_a: Any
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login("merkantil_a", "feil-passord")
    login("merkantil_a")  # the right password, refused while locked
    assert "For mange mislykkede innloggingsforsøk" in page.inner_text("main")
    assert not page.url.endswith("/oversikt/")

    page.context.clear_cookies()
    login("admin_a")
    page.click("summary:has-text('Administrasjon')")  # the administrator's pages, in one menu
    page.click("text=Sperrede brukere")
    row = page.locator("[data-testid=locked-users] tr", has_text="merkantil_a")
    with page.expect_navigation():
        row.locator("button").click()
    assert "merkantil_a kan logge inn igjen." in page.inner_text(".messages")

    page.context.clear_cookies()
    login("merkantil_a")
    assert page.url.endswith("/oversikt/")  # billing staff land on the overview
