"""The demo hook: Demo kommune talks to the local simulator, and re-seeding changes nothing."""

from __future__ import annotations

import pytest

from integrations.demo import DEMO_PASSWORD, seed_demo
from integrations.forms import validate_base_url
from integrations.models import VismaSettings

pytestmark = pytest.mark.django_db


def test_seed_demo_points_at_the_simulator_and_is_idempotent(kommune_a, settings):
    settings.VISMA_SIMULATOR_PORT = 8290
    seed_demo(kommune_a)
    obj = VismaSettings.objects.get(municipality=kommune_a)
    assert obj.base_url == "http://127.0.0.1:8290/fakturering_ws/"
    assert validate_base_url(obj.base_url)
    assert (obj.selskap, obj.username, obj.enabled) == ("1", "demo", True)
    assert obj.get_password() == DEMO_PASSWORD

    obj.username = "endret"
    obj.save()
    seed_demo(kommune_a)
    assert VismaSettings.objects.get().username == "endret"
