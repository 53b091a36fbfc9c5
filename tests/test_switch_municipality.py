"""The municipality switch in the page header: a user of two municipalities acts in one at a time,
with that municipality's role; an id that is not one of the user's own municipalities is refused
and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from invoices.access import SESSION_KEY, role_of
from invoices.models import Municipality, Role
from tests import factories

pytestmark = pytest.mark.django_db

SWITCH = reverse("switch_municipality")
ADMIN_PAGE = reverse("integrations:settings")


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _header(client: Client) -> str:
    return client.get(reverse("invoices:list")).content.decode()


def test_switch_changes_municipality_and_role(
    admin_a_lese_b: Any, kommune_a: Municipality, kommune_b: Municipality
) -> None:
    client = _client(admin_a_lese_b)
    assert client.get(ADMIN_PAGE).status_code == 200  # A is the first membership: admin there

    response = client.post(SWITCH, {"municipality": kommune_b.pk})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.session[SESSION_KEY] == kommune_b.pk
    assert client.get(ADMIN_PAGE).status_code == 403
    header = _header(client)
    assert f'<option value="{kommune_b.pk}" selected>Nabokommune</option>' in header
    assert "Lesetilgang" in header and "Systemadministrator" not in header
    assert ADMIN_PAGE not in header  # the admin menu entry is gone with the role

    client.post(SWITCH, {"municipality": kommune_a.pk})
    assert client.get(ADMIN_PAGE).status_code == 200
    assert ADMIN_PAGE in _header(client)


def test_reverse_user_becomes_admin_only_in_b(
    merkantil_a_admin_b: Any, kommune_a: Municipality, kommune_b: Municipality
) -> None:
    assert role_of(merkantil_a_admin_b, kommune_a) == Role.MERKANTIL
    assert role_of(merkantil_a_admin_b, kommune_b) == Role.SYSTEMADMINISTRATOR
    client = _client(merkantil_a_admin_b)
    assert client.get(ADMIN_PAGE).status_code == 403
    assert client.get(reverse("exports:history")).status_code == 200
    client.post(SWITCH, {"municipality": kommune_b.pk})
    assert client.get(ADMIN_PAGE).status_code == 200
    assert client.get(reverse("exports:history")).status_code == 403


# Not a number at all: 400; a number, but not a municipality of the user's: 404.
@pytest.mark.parametrize(
    ("value", "status"),
    [("", 400), ("abc", 400), ("0", 400), ("-1", 400), ("1.5", 400), ("²", 400), ("99999999", 404)],
)
def test_bad_ids_are_refused_and_change_nothing(
    admin_a_lese_b: Any, kommune_a: Municipality, kommune_b: Municipality, value: str, status: int
) -> None:
    client = _client(admin_a_lese_b)
    client.post(SWITCH, {"municipality": kommune_b.pk})
    assert client.post(SWITCH, {"municipality": value}).status_code == status
    assert client.session[SESSION_KEY] == kommune_b.pk
    assert client.get(ADMIN_PAGE).status_code == 403


def test_a_municipality_of_someone_else_is_refused(
    admin_a_lese_b: Any, merkantil_b: Any, kommune_a: Municipality, kommune_b: Municipality
) -> None:
    """Kommune C exists and has users, but not this one: 404, as if it did not exist."""
    kommune_c = factories.municipality("9997", "Tredje kommune")
    factories.user("admin_c", kommune_c, Role.SYSTEMADMINISTRATOR)
    client = _client(admin_a_lese_b)
    assert client.post(SWITCH, {"municipality": kommune_c.pk}).status_code == 404
    assert SESSION_KEY not in client.session
    assert client.get(ADMIN_PAGE).status_code == 200  # still admin of A
    # A user of one municipality cannot switch into another either.
    single = _client(merkantil_b)
    assert single.post(SWITCH, {"municipality": kommune_a.pk}).status_code == 404
    assert single.get(reverse("exports:history")).status_code == 200
    assert "Demo kommune" not in _header(single)


def test_switch_needs_a_login_and_a_post(admin_a_lese_b: Any, kommune_b: Municipality) -> None:
    anonymous = Client()
    response = anonymous.post(SWITCH, {"municipality": kommune_b.pk})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client = _client(admin_a_lese_b)
    assert client.get(SWITCH, {"municipality": kommune_b.pk}).status_code == 405
    assert SESSION_KEY not in client.session


def test_a_membership_removed_after_the_switch_falls_back(
    admin_a_lese_b: Any, kommune_a: Municipality, kommune_b: Municipality
) -> None:
    """The session still names B, but the user no longer belongs there: B's data is gone from the
    user's reach, and the user acts in A with A's role."""
    client = _client(admin_a_lese_b)
    client.post(SWITCH, {"municipality": kommune_b.pk})
    admin_a_lese_b.memberships.filter(municipality=kommune_b).delete()
    assert client.get(ADMIN_PAGE).status_code == 200
    assert '<span class="tenant">Demo kommune</span>' in _header(client)
