"""The access helpers: the role services and commands use without a request, and what a request's
access costs and remembers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.test import RequestFactory

from invoices.access import (
    Access,
    get_access,
    get_invoice_basis_for_user,
    role_of,
    set_active_municipality,
)
from invoices.models import Municipality, Role
from tests import factories


@pytest.mark.django_db
def test_role_of(
    personas: dict[str, Any], kommune_a: Municipality, kommune_b: Municipality
) -> None:
    assert role_of(personas["admin_a"], kommune_a) == Role.SYSTEMADMINISTRATOR
    assert role_of(personas["superbruker_a"], kommune_a) == Role.SUPERBRUKER
    # A role in one municipality is no role in another.
    assert role_of(personas["merkantil_b"], kommune_a) is None
    assert role_of(personas["merkantil_b"], kommune_b) == Role.MERKANTIL
    assert role_of(None, kommune_a) is None
    assert role_of(AnonymousUser(), kommune_a) is None


def _request(user: Any) -> HttpRequest:
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}  # type: ignore[assignment]  # get/set is all access.py asks of it
    return request


@pytest.mark.django_db
def test_access_is_worked_out_once_per_request(
    admin_a_lese_b: Any,
    kommune_a: Municipality,
    django_assert_num_queries: Any,
) -> None:
    request = _request(admin_a_lese_b)
    # One query: the memberships with their municipalities (the header shows the name).
    with django_assert_num_queries(1):
        access = get_access(request)
        assert access is not None and access.municipality.name == kommune_a.name
    with django_assert_num_queries(0):
        assert get_access(request) is access


@pytest.mark.django_db
def test_switching_within_a_request_forgets_the_old_access(
    admin_a_lese_b: Any, kommune_a: Municipality, kommune_b: Municipality
) -> None:
    request = _request(admin_a_lese_b)
    before = get_access(request)
    assert before is not None and (before.municipality, before.role) == (
        kommune_a,
        Role.SYSTEMADMINISTRATOR,
    )
    set_active_municipality(request, kommune_b.pk)
    after = get_access(request)
    assert after is not None and (after.municipality, after.role) == (kommune_b, Role.LESETILGANG)


@pytest.mark.django_db
def test_a_basis_comes_with_what_its_page_shows(
    kommune_a: Municipality, django_assert_num_queries: Any
) -> None:
    basis = factories.basis(kommune_a)
    access = Access(municipality=kommune_a, role=Role.MERKANTIL)
    with django_assert_num_queries(1):
        found = get_invoice_basis_for_user(access, basis.pk)
        assert (found.municipality, found.unit, found.payer, found.recipient) == (
            kommune_a,
            basis.unit,
            basis.payer,
            basis.recipient,
        )
