"""Key rotation (docs/operations.md, "Rotating keys"): a secret encrypted with the old key is
re-encrypted by `rotate_secrets` with the new key put first, the change is audited without the
secret, and once the old key is removed the secret still reads."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import CommandError, call_command

from integrations import crypto
from integrations.models import VismaSettings
from invoices.models import AuditEvent, Municipality
from operations.secrets import ENCRYPTED_FIELDS

OLD, NEW, OTHER = (Fernet.generate_key().decode() for _ in range(3))
SECRET = "Hemmelig-Visma-passord-42"


def _rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_secrets", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_rotate_with_new_and_old_then_drop_the_old_key(
    db: None, settings: Any, kommune_a: Municipality
) -> None:
    settings.FERNET_KEYS = [OLD]
    visma = VismaSettings(municipality=kommune_a, selskap="1", base_url="https://x/fakturering_ws/")
    visma.set_password(SECRET)
    visma.save()
    old_token = visma.password_encrypted

    settings.FERNET_KEYS = [NEW]
    with pytest.raises(crypto.SecretUnreadable):
        VismaSettings.objects.get(pk=visma.pk).get_password()  # the key really matters

    settings.FERNET_KEYS = [NEW, OLD]
    with pytest.raises(CommandError):
        _rotate("--check")  # one secret is still under the old key
    assert VismaSettings.objects.get(pk=visma.pk).password_encrypted == old_token  # unchanged

    assert "Kryptert på nytt med den første nøkkelen: 1 (av dem stod 1 med en eldre nøkkel)" in (
        _rotate()
    )
    rotated = VismaSettings.objects.get(pk=visma.pk)
    assert rotated.password_encrypted != old_token
    [event] = AuditEvent.objects.filter(action="secrets.rotated")
    assert event.object_id == str(visma.pk) and event.municipality_id == kommune_a.pk
    assert event.data == {"field": "password_encrypted", "was_under_older_key": True}
    recorded = json.dumps(event.data)
    assert SECRET not in recorded and old_token not in recorded

    settings.FERNET_KEYS = [NEW]
    assert VismaSettings.objects.get(pk=visma.pk).get_password() == SECRET
    assert "Står med en eldre nøkkel: 0" in _rotate("--check")


def test_a_secret_no_key_can_read_is_reported_not_lost(
    db: None, settings: Any, kommune_a: Municipality
) -> None:
    settings.FERNET_KEYS = [OLD]
    visma = VismaSettings(municipality=kommune_a, selskap="1", base_url="https://x/fakturering_ws/")
    visma.set_password(SECRET)
    visma.save()
    settings.FERNET_KEYS = [NEW, OTHER]
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 hemmelighet"):
        call_command("rotate_secrets", stdout=io.StringIO(), stderr=err)
    assert f"integrations.VismaSettings #{visma.pk}" in err.getvalue()
    assert VismaSettings.objects.get(pk=visma.pk).password_encrypted == visma.password_encrypted
    assert not AuditEvent.objects.filter(action="secrets.rotated").exists()


def test_every_encrypted_field_is_rotated() -> None:
    found = {
        (model._meta.app_label, model.__name__, f.name)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if f.name.endswith("_encrypted")
    }
    assert found == set(ENCRYPTED_FIELDS)
