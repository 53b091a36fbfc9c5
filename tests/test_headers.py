"""Promise 9's headers: no response with personal data may be cached (`Cache-Control: no-store,
private`), and a Content-Security-Policy allows no inline script, no inline event handler and no
inline style. Every page of the access matrix is asked, as a user of each kind, and so are the
file downloads, the intake API, the error pages, the login page and the operators' admin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests import test_access_matrix
from tests.test_access_matrix import MATRIX, M, _url

# The access matrix's objects of kommune A (a basis, an export with its file, a transfer, a key).
world = test_access_matrix.world

ROOT = Path(settings.BASE_DIR)


def _directives(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    policy = {}
    for part in header.split(";"):
        name, *values = part.split()
        policy[name] = values
    return policy


def assert_strict_csp(response: Any) -> None:
    policy = _directives(response)
    assert policy["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert policy[directive] == ["'self'"], directive
    for directive in ("script-src-attr", "style-src-attr", "script-src-elem", "style-src-elem"):
        assert directive not in policy, f"{directive} would loosen the policy"
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def assert_not_cached(response: Any) -> None:
    directives = {d.strip() for d in response.headers.get("Cache-Control", "").split(",")}
    path = response.request["PATH_INFO"]
    assert {"no-store", "private"} <= directives, f"{path}: {response.headers.get('Cache-Control')}"
    assert "public" not in directives, path


def _client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["admin_a", "merkantil_a", "superbruker_a", "anonymous"])
def test_every_page_is_uncached_and_under_the_policy(world: dict, persona: str) -> None:
    client = _client(world["personas"][persona])
    for name, (obj_key, _expected) in MATRIX.items():
        response = client.get(_url(name, obj_key, world) + "?period=2026-10")
        assert_not_cached(response)
        if not getattr(response, "streaming", False):
            assert_strict_csp(response)
            response.close()


@pytest.mark.django_db
def test_file_downloads_are_not_cached(world: dict) -> None:
    client = _client(world["personas"][M])
    response = client.get(reverse("exports:download", kwargs={"pk": world["export"].pk}))
    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert_not_cached(response)


@pytest.mark.django_db
def test_the_intake_api_is_not_cached(world: dict, kommune_a: Any) -> None:
    from invoices.services import api_token_create

    _, plaintext = api_token_create(kommune_a, "Header-test", world["personas"]["admin_a"])
    response = Client().post(
        reverse("api_invoice_bases"),
        data=b"{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {plaintext}",
    )
    assert 400 <= response.status_code < 500
    assert_not_cached(response)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/finnes-ikke/", "/logg-inn/", "/driftsadmin/login/"])
def test_anonymous_pages_and_error_pages_carry_both_headers(path: str) -> None:
    response = Client().get(path)
    assert_not_cached(response)
    assert_strict_csp(response)


@pytest.mark.django_db
def test_the_operators_admin_is_under_the_policy(world: dict) -> None:
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("drift", password="x-drift-2026")
    client = _client(operator)
    for path in ("/driftsadmin/", "/driftsadmin/invoices/party/"):
        response = client.get(path)
        assert response.status_code == 200
        assert_not_cached(response)
        assert_strict_csp(response)


@pytest.mark.django_db
def test_static_files_stay_cacheable() -> None:
    """The stylesheet and scripts are the same for everyone: they are served before the no-store
    middleware and keep their cache lifetime."""
    response = Client().get(settings.STATIC_URL + "js/app.js")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


@pytest.mark.django_db
def test_the_usual_security_headers(world: dict) -> None:
    response = _client(world["personas"][M]).get(reverse("invoices:list"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_session_cookie_is_http_only(merkantil_a: Any) -> None:
    client = Client()
    response = client.post(
        reverse("login"), {"username": "merkantil_a", "password": "testpass-123"}
    )
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# --- the templates themselves --------------------------------------------------------------------

TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
_EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I | re.S)
_STYLE = re.compile(r"<[^>]*\sstyle\s*=|<style\b", re.I | re.S)
_JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def _templates() -> list[Path]:
    found = [p for d in TEMPLATE_DIRS for p in d.rglob("*.html")]
    assert len(found) > 30, "the template scan found too little"
    return found


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        ("inline <script>", _INLINE_SCRIPT),
        ("inline event handler", _EVENT_HANDLER),
        ("inline style", _STYLE),
        ("javascript: URL", _JS_URL),
    ],
)
def test_no_template_has_inline_code_or_style(what: str, pattern: re.Pattern[str]) -> None:
    """The policy would block these in the browser; here they are caught before anyone clicks."""
    offenders = [
        f"{path.relative_to(ROOT)}: {m.group(0)[:80]!r}"
        for path in _templates()
        for m in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"{what} in templates:\n" + "\n".join(offenders)


def test_htmx_is_configured_for_the_policy() -> None:
    """htmx would otherwise add a <style> for its indicators, may evaluate code in attributes,
    and keeps pages in localStorage for its history: all three are turned off."""
    base = (ROOT / "templates" / "base.html").read_text(encoding="utf-8")
    match = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", base)
    assert match, "base.html configures htmx with a meta tag"
    config = json.loads(match.group(1))
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["historyCacheSize"] == 0


# --- under production settings -------------------------------------------------------------------

_PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.test import Client, override_settings
# Only the headers are under test: static files are served by the manifest storage in
# production, which needs collectstatic first, so plain storage stands in for it here.
plain = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
with override_settings(STORAGES=plain):
    secure = Client().get("/logg-inn/", secure=True, HTTP_HOST="faktura.example.no")
    plain_http = Client().get("/logg-inn/", HTTP_HOST="faktura.example.no")
print(json.dumps({
    "status": secure.status_code,
    "headers": dict(secure.headers),
    "csrf_cookie_secure": secure.cookies["csrftoken"]["secure"],
    "http": [plain_http.status_code, plain_http.headers.get("Location")],
}))
"""


def test_production_adds_hsts_secure_cookies_and_https() -> None:
    """With DJANGO_ENV=production (the values `./dev.py test` uses for `check --deploy`), the
    login page comes with HSTS, a secure CSRF cookie and the same CSP and no-store, and plain
    http is sent to https. Nothing here touches the database."""
    from dev import PRODUCTION_CHECK_ENV

    out = subprocess.run(
        [sys.executable, "-c", _PRODUCTION_PROBE],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "aidn_billing.settings",
            "DJANGO_ENV": "production",
            **PRODUCTION_CHECK_ENV,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    headers = seen["headers"]
    assert seen["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "no-store" in headers["Cache-Control"] and "private" in headers["Cache-Control"]
    assert "script-src 'self';" in headers["Content-Security-Policy"] + ";"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert seen["csrf_cookie_secure"] is True
    assert seen["http"] == [301, "https://faktura.example.no/logg-inn/"]
