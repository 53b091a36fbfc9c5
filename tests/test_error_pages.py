"""Error pages look like the product, speak the user's language and explain themselves: 400, 403
(naming the role the page needs), 404, 500 and the CSRF failure; with the menu for a signed-in user.
A 403 is logged once, as one line, and a plain run of the product never shows Django's debug page.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from invoices.access import BILLING_ROLES, RoleRequired, require_access

COOKIE = settings.LANGUAGE_COOKIE_NAME
UNKNOWN = "/finnes-ikke/"


def _client(user: Any = None, language: str = "") -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    if language:
        client.cookies[COOKIE] = language
    return client


def _assert_product_page(html: str, *, signed_in: bool) -> None:
    """The page is the product's own: its stylesheet and header; the menu only when signed in."""
    assert "css/app.css" in html and 'class="topbar"' in html
    assert ('class="mainnav"' in html) is signed_in
    assert ("Logg ut" in html or "Log out" in html) is signed_in


# --- 404 -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_url_is_the_products_404_in_bokmal() -> None:
    response = _client().get(UNKNOWN)
    html = response.content.decode()
    assert response.status_code == 404
    assert "Siden finnes ikke" in html
    assert "URLconf" not in html and "urlpatterns" not in html
    _assert_product_page(html, signed_in=False)


@pytest.mark.django_db
def test_404_in_english_with_the_menu_for_a_signed_in_user(merkantil_a: Any) -> None:
    response = _client(merkantil_a, "en").get(UNKNOWN)
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and "Siden finnes ikke" not in html
    _assert_product_page(html, signed_in=True)


@pytest.mark.django_db
def test_another_municipalitys_object_is_the_same_404(merkantil_b: Any, kommune_a: Any) -> None:
    """The 404 for kommune A's basis seen from kommune B says nothing a missing page would not."""
    from tests import factories

    basis = factories.basis(kommune_a)
    client = _client(merkantil_b)
    pages = []
    for pk in (basis.pk, 999_999):
        url = reverse("invoices:detail", kwargs={"pk": pk})
        html = client.get(url).content.decode().replace(url, "URL")
        pages.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html))
    assert "Siden finnes ikke" in pages[0]
    assert basis.source_reference not in pages[0]
    assert pages[0] == pages[1]


def test_a_plain_run_shows_no_debug_page(tmp_path: Any) -> None:
    """`./dev.py up` runs with the development defaults: an unknown URL is the product's 404, not
    Django's debug page listing every URL."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(DJANGO_ENV="development", VAR_DIR=str(tmp_path))
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.test import Client\n"
        "r = Client(HTTP_HOST='127.0.0.1').get('/finnes-ikke/')\n"
        "print(settings.DEBUG, r.status_code, 'URLconf' in r.content.decode(),"
        " 'Siden finnes ikke' in r.content.decode())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "aidn_billing.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "404", "False", "True"]


# --- 403 -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_403_names_the_role_the_page_needs(merkantil_a: Any) -> None:
    response = _client(merkantil_a).get(reverse("api_tokens:list"))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Ingen tilgang" in html
    assert "Denne siden krever rollen Systemadministrator." in html
    # The user's own standing, so they know what to ask for.
    assert "merkantil_a" in html and "Merkantil / fakturaansvarlig" in html
    _assert_product_page(html, signed_in=True)


@pytest.mark.django_db
def test_403_names_each_role_when_several_may(admin_a: Any) -> None:
    html = _client(admin_a).get(reverse("exports:history")).content.decode()
    assert (
        "Denne siden krever en av rollene Merkantil / fakturaansvarlig eller Superbruker." in html
    )


@pytest.mark.django_db
def test_403_in_english(merkantil_a: Any) -> None:
    response = _client(merkantil_a, "en").get(reverse("integrations:settings"))
    html = response.content.decode()
    assert response.status_code == 403
    assert "No access" in html
    assert "This page requires the role System administrator." in html
    assert "Denne siden" not in html


def test_require_access_carries_the_roles(rf: Any) -> None:
    request = rf.get("/")
    request._tenant_access = None  # belongs to no municipality
    with pytest.raises(RoleRequired) as caught:
        require_access(request, BILLING_ROLES)
    assert set(caught.value.roles) == set(BILLING_ROLES)


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the console handlers of the configured logging print, captured (pytest's own capture
    handlers, subclasses of StreamHandler, left out)."""
    stream = io.StringIO()
    handlers = {
        h
        for name in ("", "django", "django.request", "django.security")
        for h in logging.getLogger(name).handlers
        if type(h) is logging.StreamHandler
    }
    assert handlers, "the console handler is configured in settings.LOGGING"
    before = {h: h.setStream(stream) for h in handlers}
    yield stream
    for h, old in before.items():
        h.setStream(old)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_403_is_logged_once_without_a_traceback(
    merkantil_a: Any, console: io.StringIO, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    response = _client(merkantil_a).get(reverse("api_tokens:list"))
    assert response.status_code == 403
    printed = console.getvalue()
    assert printed.count("/administrasjon/api-nokler/") == 1, printed
    assert "Traceback" not in printed and "PermissionDenied" not in printed


# --- 500, 400, CSRF ------------------------------------------------------------------------------


def _break_the_list_page(monkeypatch: Any) -> None:
    from invoices import views

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("planted failure")

    monkeypatch.setattr(views, "_list_selection", boom)


@pytest.mark.django_db
def test_500_is_the_products_page_with_the_menu(merkantil_a: Any, monkeypatch: Any) -> None:
    _break_the_list_page(monkeypatch)
    response = _client(merkantil_a).get(reverse("invoices:list"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Noe gikk galt" in html and "planted failure" not in html
    _assert_product_page(html, signed_in=True)


@pytest.mark.django_db
def test_500_page_still_renders_when_the_header_cannot(merkantil_a: Any, monkeypatch: Any) -> None:
    """The database gone: the header's lookups fail too, and the page comes without the menu."""
    from invoices import context_processors

    _break_the_list_page(monkeypatch)

    def no_database(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database unreachable")

    client = _client(merkantil_a, "en")
    monkeypatch.setattr(context_processors, "get_access", no_database)
    response = client.get(reverse("invoices:list"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html
    assert "css/app.css" in html and 'class="mainnav"' not in html


@pytest.mark.django_db
def test_400_for_a_host_not_served(merkantil_a: Any) -> None:
    response = _client(merkantil_a).get(reverse("invoices:list"), HTTP_HOST="evil.example")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Ugyldig forespørsel" in html
    assert "css/app.css" in html


@pytest.mark.django_db
def test_400_in_english() -> None:
    response = _client(language="en").get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "Bad request" in response.content.decode()


@pytest.mark.django_db
def test_csrf_failure_is_explained_in_bokmal() -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "Skjemaet kunne ikke sendes" in html
    assert "CSRF verification failed" not in html
    _assert_product_page(html, signed_in=False)


def test_favicon_is_found(client: Client) -> None:
    """Browsers ask for /favicon.ico on every site, signed in or not: the product's icon, not a
    404 in the log (and not a redirect to the login page)."""
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    found = finders.find("favicon.svg")
    assert found and open(found).read().startswith("<svg")
