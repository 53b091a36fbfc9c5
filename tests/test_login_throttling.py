"""Promise 9, accounts resist guessing: after LOGIN_FAILURE_LIMIT wrong passwords for one username
from one address, that username is locked from that address for LOGIN_LOCKOUT_MINUTES, whatever
password comes next; the answer is a 429 that reads the same whether or not the user exists. Every
login, failed or not, every logout, lockout and unlock is in the audit trail, never a password.
The systemadministrator can unlock the users of their own municipality, and only those.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.addresses import client_ip
from invoices.models import AuditEvent, Municipality

PASSWORD = "testpass-123"  # tests/factories.py gives every user this one
WRONG = "feil-passord-987"
LIMIT = settings.AXES_FAILURE_LIMIT
HOME = "10.20.30.40"
OTHER = "10.20.30.41"


def _login(client: Client, username: str, password: str, ip: str = HOME, path: str = "") -> Any:
    return client.post(
        path or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client: Client, username: str, times: int, ip: str = HOME, path: str = "") -> list[int]:
    return [_login(client, username, WRONG, ip, path).status_code for _ in range(times)]


def _page(response: Any) -> str:
    html = response.content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_the_defaults() -> None:
    assert LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]


# --- the lockout ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_locked_after_the_limit_and_then_even_the_right_password_is_refused(
    merkantil_a: Any,
) -> None:
    client = Client()
    assert _fail(client, "merkantil_a", LIMIT - 1) == [200] * (LIMIT - 1)
    locked = _login(client, "merkantil_a", WRONG)
    assert locked.status_code == 429
    right = _login(client, "merkantil_a", PASSWORD)
    assert right.status_code == 429
    assert not _signed_in(client)
    html = right.content.decode()
    assert "For mange mislykkede innloggingsforsøk" in html
    assert "15 minutter" in html
    assert "css/app.css" in html  # the product's page, not a bare text


@pytest.mark.django_db
def test_the_lockout_reads_the_same_whether_the_user_exists_or_not(merkantil_a: Any) -> None:
    client = Client()
    _fail(client, "merkantil_a", LIMIT)
    _fail(client, "ingen_slik_bruker", LIMIT)
    real = _login(client, "merkantil_a", PASSWORD)
    made_up = _login(client, "ingen_slik_bruker", PASSWORD)
    assert real.status_code == made_up.status_code == 429
    assert _page(real) == _page(made_up)
    assert "merkantil_a" not in _page(real)


@pytest.mark.django_db
def test_the_lockout_in_english(merkantil_a: Any) -> None:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    _fail(client, "merkantil_a", LIMIT)
    html = _login(client, "merkantil_a", PASSWORD).content.decode()
    assert "Too many failed login attempts" in html
    assert "15 minutes" in html
    assert "For mange" not in html


@pytest.mark.django_db
def test_the_lock_holds_for_one_username_from_one_address(
    merkantil_a: Any, superbruker_a: Any
) -> None:
    _fail(Client(), "merkantil_a", LIMIT)
    from_elsewhere = Client()
    assert _login(from_elsewhere, "merkantil_a", PASSWORD, ip=OTHER).status_code == 302
    assert _signed_in(from_elsewhere)
    colleague = Client()
    assert _login(colleague, "superbruker_a", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_a_successful_login_forgets_earlier_failures(merkantil_a: Any) -> None:
    client = Client()
    _fail(client, "merkantil_a", LIMIT - 1)
    assert _login(client, "merkantil_a", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    assert _fail(client, "merkantil_a", LIMIT - 1) == [200] * (LIMIT - 1)


@pytest.mark.django_db
def test_the_lock_ends_by_itself_after_the_lockout_time(merkantil_a: Any) -> None:
    client = Client()
    _fail(client, "merkantil_a", LIMIT)
    assert _login(client, "merkantil_a", PASSWORD).status_code == 429
    # Time passes: the failures are now older than the lockout.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=15, seconds=1)
    )
    assert _login(client, "merkantil_a", PASSWORD).status_code == 302
    assert _signed_in(client)
    (expired,) = _events("auth.lock_expired")
    assert expired.data["username"] == "merkantil_a"
    assert expired.data["ip"] == HOME
    assert expired.municipality is not None and expired.municipality.number == "9999"


@pytest.mark.django_db
def test_the_operators_admin_login_is_throttled_too(db: None) -> None:
    get_user_model().objects.create_superuser("drift", password=PASSWORD)
    client = Client()
    admin_login = reverse("admin:login")
    assert _fail(client, "drift", LIMIT - 1, path=admin_login) == [200] * (LIMIT - 1)
    assert _login(client, "drift", WRONG, path=admin_login).status_code == 429
    response = _login(client, "drift", PASSWORD, path=admin_login)
    assert response.status_code == 429
    assert "For mange mislykkede innloggingsforsøk" in response.content.decode()
    assert not _signed_in(client)
    assert [e.data["path"] for e in _events("auth.locked")] == [admin_login]


# --- the audit trail -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_login_logout_and_failure_is_audited_without_passwords(
    merkantil_a: Any, kommune_a: Municipality
) -> None:
    client = Client()
    _login(client, "merkantil_a", WRONG)
    _login(client, "merkantil_a", PASSWORD)
    client.post(reverse("logout"))

    (failed,) = _events("auth.login_failed")
    assert failed.actor is None  # someone claimed to be merkantil_a; it need not have been them
    assert failed.municipality == kommune_a
    assert failed.data == {
        "username": "merkantil_a",
        "ip": HOME,
        "path": reverse("login"),
        "reason": "credentials",
    }
    (login,) = _events("auth.login")
    assert login.actor == merkantil_a and login.municipality == kommune_a
    assert login.data["ip"] == HOME
    (logout,) = _events("auth.logout")
    assert logout.actor == merkantil_a and logout.municipality == kommune_a

    everything = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert WRONG not in everything and PASSWORD not in everything


@pytest.mark.django_db
def test_the_lockout_and_the_refused_attempts_are_audited(merkantil_a: Any) -> None:
    client = Client()
    _fail(client, "merkantil_a", LIMIT)
    _login(client, "merkantil_a", PASSWORD)
    _login(client, "merkantil_a", WRONG)

    (locked,) = _events("auth.locked")
    assert locked.data["username"] == "merkantil_a" and locked.data["ip"] == HOME
    assert locked.data["failures"] == LIMIT
    reasons = [e.data["reason"] for e in _events("auth.login_failed")]
    assert reasons == ["credentials"] * LIMIT + ["locked", "locked"]
    assert not _events("auth.login")
    everything = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert WRONG not in everything and PASSWORD not in everything


@pytest.mark.django_db
def test_a_failed_login_for_nobody_is_audited_for_the_operators(kommune_a: Municipality) -> None:
    _login(Client(), "ingen_slik_bruker", WRONG)
    (failed,) = _events("auth.login_failed")
    assert failed.municipality is None
    assert failed.data["username"] == "ingen_slik_bruker"


# --- unlocking by the systemadministrator --------------------------------------------------------


def _locked_table(response: Any) -> str:
    html = response.content.decode()
    start = html.index('data-testid="locked-users"')
    return html[start : html.index("</table>", start)]


def _admin_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_administrator_sees_and_unlocks_a_locked_user(
    admin_a: Any, merkantil_a: Any, merkantil_b: Any, kommune_a: Municipality
) -> None:
    _fail(Client(), "merkantil_a", LIMIT)
    _fail(Client(), "merkantil_b", LIMIT)
    admin = _admin_client(admin_a)

    page = admin.get(reverse("accounts:locked"))
    table = _locked_table(page)
    assert page.status_code == 200
    assert "merkantil_a" in table and HOME in table
    assert "merkantil_b" not in page.content.decode()  # another municipality's user: not A's

    response = admin.post(reverse("accounts:unlock", kwargs={"pk": merkantil_a.pk}))
    assert response.status_code == 302
    after = admin.get(reverse("accounts:locked"))
    assert "merkantil_a kan logge inn igjen." in after.content.decode()
    assert "merkantil_a" not in _locked_table(after)
    assert not AccessAttempt.objects.filter(username="merkantil_a").exists()
    client = Client()
    assert _login(client, "merkantil_a", PASSWORD).status_code == 302

    (unlocked,) = _events("auth.unlocked")
    assert unlocked.actor == admin_a and unlocked.municipality == kommune_a
    assert unlocked.data == {"username": "merkantil_a", "attempts": 1}


@pytest.mark.django_db
def test_the_administrator_cannot_unlock_another_municipalitys_user(
    admin_a: Any, merkantil_b: Any
) -> None:
    _fail(Client(), "merkantil_b", LIMIT)
    response = _admin_client(admin_a).post(
        reverse("accounts:unlock", kwargs={"pk": merkantil_b.pk})
    )
    assert response.status_code == 404
    assert _login(Client(), "merkantil_b", PASSWORD).status_code == 429
    assert not _events("auth.unlocked")


@pytest.mark.django_db
def test_only_the_administrator_may_unlock(merkantil_a: Any, superbruker_a: Any) -> None:
    _fail(Client(), "superbruker_a", LIMIT)
    client = _admin_client(merkantil_a)
    assert client.get(reverse("accounts:locked")).status_code == 403
    response = client.post(reverse("accounts:unlock", kwargs={"pk": superbruker_a.pk}))
    assert response.status_code == 403
    assert "Systemadministrator" in response.content.decode()
    assert _login(Client(), "superbruker_a", PASSWORD).status_code == 429


# --- configuration and the client's address ------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT"),
        ({"LOGIN_LOCKOUT_MINUTES": "0"}, "LOGIN_LOCKOUT_MINUTES"),
        ({"LOGIN_TRUSTED_PROXIES": "-1"}, "LOGIN_TRUSTED_PROXIES"),
    ],
)
def test_bad_throttling_settings_refuse_to_start(env: dict[str, str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env={"DJANGO_SETTINGS_MODULE": "aidn_billing.settings", "DJANGO_ENV": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "ImproperlyConfigured" in out.stderr and message in out.stderr


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "192.0.2.1"),  # no proxy trusted: the header is the client's word
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the first entry was made up
        (2, "203.0.113.9, 198.51.100.1", "203.0.113.9"),
        (1, "", "192.0.2.1"),
        (1, "not-an-address", "192.0.2.1"),
        (1, "203.0.113.9\x00", "192.0.2.1"),
    ],
)
def test_the_client_address_behind_trusted_proxies(
    rf: Any, settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    settings.LOGIN_TRUSTED_PROXIES = proxies
    request = rf.post("/logg-inn/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@pytest.mark.parametrize("username", ["x" * 10_000, "merk\x00antil_a", "\u202emerkantil_a"])
def test_a_username_no_user_can_have_is_a_failed_login_not_a_database_error(
    db: None, merkantil_a: Any, username: str
) -> None:
    """Found by the crawler: 10 000 characters (or a NUL) as the username was kept as it came and
    the database refused it (500 on PostgreSQL)."""
    response = _login(Client(), username, WRONG)
    assert response.status_code == 200
    assert "_auth_user_id" not in response.client.session
    for attempt in AccessAttempt.objects.all():
        assert len(attempt.username) <= 150 and attempt.username.isprintable()
