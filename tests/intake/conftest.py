from __future__ import annotations

from typing import Any

import pytest

from invoices.models import Municipality, Service
from tests.intake import helpers


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # The personas' passwords are hashed in every test's setup; the slow default is no test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def services_a(kommune_a: Municipality) -> dict[str, Service]:
    return helpers.catalogue(kommune_a)


@pytest.fixture
def services_b(kommune_b: Municipality) -> dict[str, Service]:
    return helpers.catalogue(kommune_b)


@pytest.fixture
def token_a(kommune_a: Municipality, admin_a: Any) -> str:
    from invoices.services import api_token_create

    return api_token_create(kommune_a, "Fagsystem", admin_a)[1]


@pytest.fixture
def token_b(kommune_b: Municipality) -> str:
    from invoices.services import api_token_create

    return api_token_create(kommune_b, "Fagsystem B", None)[1]
