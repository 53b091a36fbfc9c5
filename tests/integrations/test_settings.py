"""Settings: URL rules (promise 8), the encrypted password (promise 6), audit, Test tilkobling."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from integrations import crypto, services
from integrations.forms import VismaSettingsForm, validate_base_url
from integrations.models import VismaSettings
from invoices.models import AuditEvent
from tests.integrations.conftest import DEMO_PASSWORD, configure

SECRET = "S3cret-fra-SMS-42"
GOOD = {
    "selskap": "1",
    "base_url": "https://visma.kommune.no/fakturering_ws/",
    "username": "ABC",
    "password": SECRET,
    "enabled": "on",
}


def _form(data: dict[str, Any], instance: VismaSettings | None = None) -> VismaSettingsForm:
    return VismaSettingsForm(data, instance=instance)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://visma.kommune.no/fakturering_ws/", None),
        ("https://visma.kommune.no:8443/vis/fakturering_ws/", None),
        ("http://127.0.0.1:8290/fakturering_ws/", None),
        ("http://127.8.9.1/fakturering_ws/", None),
        ("http://localhost:8290/fakturering_ws/", None),
        ("http://[::1]:8290/fakturering_ws/", None),
        ("http://visma.kommune.no/fakturering_ws/", "https"),
        ("http://10.0.0.5/fakturering_ws/", "https"),
        ("https://visma.kommune.no/fakturering_ws", "suffix"),
        ("https://visma.kommune.no/fakturering_ws/FaktureringService", "suffix"),
        ("https://visma.kommune.no/hrm_ws/", "suffix"),
        ("https://user:pw@visma.kommune.no/fakturering_ws/", "credentials"),
        ("https://user@visma.kommune.no/fakturering_ws/", "credentials"),
        ("https://visma.kommune.no/fakturering_ws/?wsdl", "query"),
        ("https://visma.kommune.no/fakturering_ws/#x", "query"),
        ("ftp://visma.kommune.no/fakturering_ws/", "scheme"),
        ("visma.kommune.no/fakturering_ws/", "scheme"),
        ("https:///fakturering_ws/", "scheme"),
        ("https://visma.kommune.no:99999/fakturering_ws/", "invalid"),
    ],
)
def test_url_rules(url: str, code: str | None) -> None:
    from django.core.exceptions import ValidationError

    if code is None:
        assert validate_base_url(url) == url
    else:
        with pytest.raises(ValidationError) as info:
            validate_base_url(url)
        assert info.value.code == code
        assert info.value.messages[0]  # a Norwegian sentence for the field


def test_http_allowed_for_listed_test_host(settings) -> None:
    settings.VISMA_HTTP_ALLOWED_HOSTS = ["testrigg.intern"]
    assert validate_base_url("http://testrigg.intern/fakturering_ws/")


@pytest.mark.django_db
def test_form_rules() -> None:
    assert _form(GOOD).is_valid()
    assert "selskap" in _form({**GOOD, "selskap": "   "}).errors
    assert "selskap" in _form({**GOOD, "selskap": "12345678901"}).errors
    assert "username" in _form({**GOOD, "username": ""}).errors
    no_password = _form({**GOOD, "password": ""})
    assert not no_password.is_valid() and "enabled" in no_password.errors
    # Saving without enabling is fine without a password.
    assert _form({**GOOD, "password": "", "enabled": ""}).is_valid()


@pytest.mark.django_db
def test_password_is_encrypted_at_rest_and_kept_when_left_empty(kommune_a, admin_a) -> None:
    form = _form(GOOD)
    assert form.is_valid()
    obj = services.visma_settings_update(kommune_a, actor=admin_a, **form.cleaned_data)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {VismaSettings._meta.db_table} WHERE id = %s",
            [obj.pk],
        )
        raw = " ".join(str(v) for v in cursor.fetchone())
    assert SECRET not in raw
    assert obj.password_encrypted and obj.get_password() == SECRET

    form = _form({**GOOD, "password": "", "username": "XYZ"}, instance=obj)
    assert form.is_valid()
    obj = services.visma_settings_update(kommune_a, actor=admin_a, **form.cleaned_data)
    assert obj.get_password() == SECRET and obj.username == "XYZ"


def test_key_rotation_keeps_old_secrets_readable(settings) -> None:
    from cryptography.fernet import Fernet

    old_key = settings.FERNET_KEYS[0]
    token = crypto.encrypt(SECRET)
    settings.FERNET_KEYS = [Fernet.generate_key().decode(), old_key]
    assert crypto.decrypt(token) == SECRET
    rotated = crypto.rotate(token)
    settings.FERNET_KEYS = settings.FERNET_KEYS[:1]
    assert crypto.decrypt(rotated) == SECRET
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)


@pytest.mark.django_db
def test_changes_are_audited_without_the_password(kommune_a, admin_a) -> None:
    form = _form(GOOD)
    assert form.is_valid()
    services.visma_settings_update(kommune_a, actor=admin_a, **form.cleaned_data)
    obj = VismaSettings.objects.get()
    form = _form({**GOOD, "password": "nytt-passord-1", "selskap": "2"}, instance=obj)
    assert form.is_valid()
    services.visma_settings_update(kommune_a, actor=admin_a, **form.cleaned_data)
    events = list(AuditEvent.objects.filter(action="visma.settings_changed").order_by("id"))
    assert len(events) == 2
    last = events[-1]
    assert last.actor_id == admin_a.pk
    assert last.data["before"]["selskap"] == "1" and last.data["after"]["selskap"] == "2"
    assert last.data["passord"] == "passord endret"
    assert "selskap" in last.data["changed"]
    dumped = str([e.data for e in events])
    assert SECRET not in dumped and "nytt-passord-1" not in dumped


def test_settings_page_never_renders_the_password(client, kommune_a, admin_a, visma_a) -> None:
    configure(kommune_a, visma_a.base_url, password=SECRET)
    client.force_login(admin_a)
    response = client.get(reverse("integrations:settings"))
    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET not in body
    assert VismaSettings.objects.get().password_encrypted not in body
    assert "Et passord er lagret" in body
    assert "side 4" in body and "fakturering_ws/" in body and "SMS" in body

    # A failed save renders the form again: still no password in the page.
    response = client.post(
        reverse("integrations:settings"), {**GOOD, "password": SECRET, "base_url": "http://x/"}
    )
    assert response.status_code == 200
    assert SECRET not in response.content.decode()


def test_settings_page_saves_and_audits(client, kommune_a, admin_a) -> None:
    client.force_login(admin_a)
    response = client.post(reverse("integrations:settings"), GOOD)
    assert response.status_code == 302
    obj = VismaSettings.objects.get(municipality=kommune_a)
    assert obj.enabled and obj.get_password() == SECRET
    assert AuditEvent.objects.filter(action="visma.settings_changed", actor=admin_a).exists()


def test_test_connection_reports_success(client, kommune_a, admin_a, visma_a) -> None:
    client.force_login(admin_a)
    response = client.post(reverse("integrations:settings_test"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Tilkoblingen virker" in body and "Demo kommune" in body
    assert "lokal simulator" in body  # the service version
    visma_a.refresh_from_db()
    assert visma_a.last_test_ok is True


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"password": "feil-passord"}, "Feil brukernavn eller passord"),
        ({"username": "ukjent"}, "Feil brukernavn eller passord"),
        ({"selskap": "77"}, "Ukjent selskap «77»"),
        ({"url": "closed"}, "Serveren kan ikke nås"),
        ({"url": "tls"}, "TLS-feil"),
        ({"url": "slow"}, "Tidsavbrudd"),
    ],
)
def test_test_connection_names_the_reason(
    kommune_a, admin_a, simulator, settings, change, expected
) -> None:
    url = simulator.url
    if change.get("url") == "closed":
        url = f"http://127.0.0.1:{_closed_port()}/fakturering_ws/"
    elif change.get("url") == "tls":
        url = simulator.url.replace("http://", "https://")
    elif change.get("url") == "slow":
        settings.VISMA_READ_TIMEOUT = 0.3
        simulator.set_faults(latency_ms=1000)
    configure(
        kommune_a,
        url,
        selskap=change.get("selskap", "1"),
        username=change.get("username", "demo"),
        password=change.get("password", DEMO_PASSWORD),
    )
    outcome = services.visma_settings_test(kommune_a, actor=admin_a)
    assert not outcome.ok
    assert expected in outcome.message
    assert DEMO_PASSWORD not in outcome.message and "feil-passord" not in outcome.message
    event = AuditEvent.objects.get(action="visma.connection_tested")
    assert event.data["ok"] is False


@pytest.mark.django_db
def test_enabled_needs_a_password_in_the_database_too(kommune_a) -> None:
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        VismaSettings.objects.create(
            municipality=kommune_a, selskap="1", base_url="https://x/fakturering_ws/", enabled=True
        )


def test_the_client_gets_the_installations_timeouts(visma_a: Any, settings: Any) -> None:
    settings.VISMA_CONNECT_TIMEOUT = 1.5
    settings.VISMA_READ_TIMEOUT = 3.0
    assert services.client_for(visma_a).timeout == (1.5, 3.0)
