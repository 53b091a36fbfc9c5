"""The Content-Security-Policy in a real browser: the behaviours moved out of inline attributes
still work (confirm before sending, the municipality switch, selecting a new API key), and a
violation is noticed by the watch every browser test runs under (tests/browser/conftest.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from invoices.models import BasisStatus, InvoiceBasis, Municipality
from tests import factories

pytestmark = pytest.mark.integration


def test_an_inline_handler_is_blocked_and_reported(
    page: Any, login: Any, merkantil_a: Any, browser_problems: list[str]
) -> None:
    login("merkantil_a")
    page.evaluate(
        """document.body.insertAdjacentHTML('beforeend',
        '<button id="planted" onclick="document.title = \\'ran\\'">x</button>')"""
    )
    page.click("#planted")
    deadline = time.monotonic() + 5
    while not browser_problems and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.title() != "ran", "the inline handler ran: the policy is not in force"
    assert any("script-src" in p for p in browser_problems), browser_problems
    browser_problems.clear()  # seen and expected; the watch would fail the test otherwise


def test_confirm_before_delete_cancel_keeps_ok_deletes(
    page: Any, login: Any, merkantil_a: Any, kommune_a: Municipality
) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    login("merkantil_a")
    page.goto(f"/fakturagrunnlag/{basis.pk}/")
    questions: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.click("button.danger")
    page.wait_for_timeout(300)
    assert questions == ["Slette grunnlaget? Kilden kan sende det inn på nytt."]
    assert InvoiceBasis.objects.filter(pk=basis.pk).exists()

    page.once("dialog", lambda d: answer(d, True))
    with page.expect_navigation():
        page.click("button.danger")
    assert len(questions) == 2
    assert not InvoiceBasis.objects.filter(pk=basis.pk).exists()
    assert "er slettet" in page.inner_text(".messages")


def test_a_new_api_key_is_selected_with_one_click(page: Any, login: Any, admin_a: Any) -> None:
    login("admin_a")
    page.goto("/administrasjon/api-nokler/")
    page.fill("#token-name", "Fagsystem")
    with page.expect_navigation():
        page.click("button.primary")
    field = page.locator("[data-testid=new-token] input")
    field.click()
    selected = field.evaluate("el => el.value.substring(el.selectionStart, el.selectionEnd)")
    assert selected and selected == field.input_value()


def test_the_operators_admin_runs_under_the_policy(
    page: Any, kommune_a: Municipality, django_user_model: Any
) -> None:
    """Django's admin ships its scripts as files; its pages raise no violation either."""
    django_user_model.objects.create_superuser("drift", password="drift-pass-2026")
    basis = factories.basis(kommune_a, payer=factories.party(kommune_a, factories.DNR))
    page.goto("/driftsadmin/login/")
    page.fill("#id_username", "drift")
    page.fill("#id_password", "drift-pass-2026")
    with page.expect_navigation():
        page.click("input[type=submit]")
    for path in (
        "/driftsadmin/",
        "/driftsadmin/invoices/party/",
        f"/driftsadmin/invoices/party/{basis.payer_id}/change/",
        f"/driftsadmin/invoices/invoicebasis/{basis.pk}/change/",
        "/driftsadmin/auth/user/add/",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
