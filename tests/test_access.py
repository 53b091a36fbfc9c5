"""The role helper that services and commands use when there is no request."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from invoices.access import role_of
from invoices.models import Municipality, Role


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
