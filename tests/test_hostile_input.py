"""The answers an attacker or a careless user got as 500 (issue 11), each now a clear 400 or a
form error with nothing stored. They were found on PostgreSQL, which refuses NUL in a text value
with an error; on SQLite the same requests passed and stored the NUL, so every case here fails on
both databases if the parsing goes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from invoices.models import ApiToken, AuditEvent, BasisStatus, InvoiceBasis, Municipality
from invoices.services import api_token_create
from tests import factories
from tests.page_forms import form_values

NUL = "\x00"
PERIOD = "2026-10"


@pytest.fixture
def month(kommune_a: Municipality) -> dict[str, InvoiceBasis]:
    return {
        "received": factories.basis(kommune_a, status=BasisStatus.RECEIVED),
        "approved": factories.basis(kommune_a, status=BasisStatus.APPROVED),
    }


def _client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# (url name, method, params, the parameter the answer must name)
REPORTED = [
    ("invoices:list", "get", {"period": PERIOD, "unit": NUL}, "unit"),
    ("invoices:list", "get", {"period": PERIOD, "service": NUL}, "service"),
    ("invoices:list_summary", "get", {"period": PERIOD, "unit": NUL}, "unit"),
    ("invoices:list_summary", "get", {"period": PERIOD, "service": NUL}, "service"),
    ("invoices:validation_report", "get", {"period": PERIOD, "unit": NUL}, "unit"),
    ("invoices:validation_summary", "get", {"period": PERIOD, "unit": NUL}, "unit"),
    ("exports:preview", "get", {"period": NUL}, "period"),
    ("exports:preview", "get", {"period": PERIOD, "unit": NUL}, "unit"),
    ("invoices:period_approve", "post", {"period": PERIOD, "unit": NUL}, "unit"),
    ("invoices:period_unapprove", "post", {"period": PERIOD, "unit": NUL}, "unit"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "params", "culprit"), REPORTED)
def test_nul_in_a_filter_is_a_400_that_names_it(
    month: dict[str, InvoiceBasis],
    merkantil_a: Any,
    name: str,
    method: str,
    params: dict[str, str],
    culprit: str,
) -> None:
    response = getattr(_client(merkantil_a), method)(reverse(name), params)
    assert response.status_code == 400, response.content[:300]
    body = response.content.decode()
    assert f"Ugyldig verdi for «{culprit}»" in body
    assert "kontrolltegn (U+0000)" in body
    # Nothing changed: both bases keep their status.
    for key, basis in month.items():
        assert InvoiceBasis.objects.get(pk=basis.pk).status == key


@pytest.mark.django_db
def test_override_with_a_superscript_digit_is_a_400(
    month: dict[str, InvoiceBasis], superbruker_a: Any
) -> None:
    """`'²'.isdigit()` is True, and `int('²')` raises: the check must be for ASCII digits."""
    response = _client(superbruker_a).get(reverse("exports:override"), {"grunnlag": "²"})
    assert response.status_code == 400
    assert "Ugyldig verdi for «grunnlag»" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["9" * 30, "²", "-1", "", NUL])
def test_switching_to_an_impossible_municipality_is_a_400(
    kommune_a: Municipality, merkantil_a: Any, value: str
) -> None:
    client = _client(merkantil_a)
    response = client.post(reverse("switch_municipality"), {"municipality": value})
    assert response.status_code == 400
    assert "Ugyldig verdi for «municipality»" in response.content.decode()
    # A well-formed number of a municipality the user is not in stays a 404.
    other = factories.municipality("9997", "Tredje kommune")
    response = client.post(reverse("switch_municipality"), {"municipality": other.pk})
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Fag\x00system", "Fagsystem\u202e", "\u2066Fag"])
def test_api_key_name_with_a_control_character_is_a_form_error(
    kommune_a: Municipality, admin_a: Any, name: str
) -> None:
    response = _client(admin_a).post(reverse("api_tokens:list"), {"name": name})
    assert response.status_code == 200
    assert "Teksten inneholder et kontrolltegn" in response.content.decode()
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="api_token.create").exists()


@pytest.mark.django_db
def test_intake_municipality_with_nul_is_the_same_403_as_any_other(
    kommune_a: Municipality, kommune_b: Municipality, admin_a: Any
) -> None:
    _token, plaintext = api_token_create(kommune_a, "Fagsystem", admin_a)
    answers = {}
    for number in ("99\x0099", "9998", "1234"):
        response = Client(raise_request_exception=False).post(
            "/api/v1/invoice-bases",
            data=json.dumps({"municipality": number, "invoice_bases": []}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {plaintext}",
        )
        answers[number] = (response.status_code, response.json()["errors"][0]["code"])
    assert set(answers.values()) == {(403, "forbidden_municipality")}, answers


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["2", "-1", "²", "transfers", "https://evil.example/", "//evil"])
def test_status_refresh_goes_back_only_to_a_path_of_this_site(
    kommune_a: Municipality, merkantil_a: Any, target: str
) -> None:
    """Found by the crawler: `redirect("2")` took the value for a view name and raised."""
    response = _client(merkantil_a).post(reverse("integrations:status_refresh"), {"next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:transfers")
    response = _client(merkantil_a).post(
        reverse("integrations:status_refresh"), {"next": "/fakturagrunnlag/?period=2026-10"}
    )
    assert response["Location"] == "/fakturagrunnlag/?period=2026-10"


# --- the settings forms: a control character in any text field is a form error --------------


def _page_form(client: Client, url: str) -> dict[str, str]:
    data = form_values(client.get(url).content.decode())
    return {k: v for k, v in data.items() if k not in ("csrfmiddlewaretoken", "next", "language")}


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["agresso_client", "header_text_template", "batch_prefix"])
def test_export_profile_refuses_a_bidi_override_in_any_text(
    kommune_a: Municipality, admin_a: Any, field: str
) -> None:
    from exports.models import ExportProfile

    client = _client(admin_a)
    url = reverse("exports:profile")
    data = _page_form(client, url)
    assert field in data
    before = list(ExportProfile.objects.values())
    response = client.post(url, {**data, field: "AB\u202eC"})
    assert response.status_code == 200
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    assert list(ExportProfile.objects.values()) == before
    assert not AuditEvent.objects.filter(action__startswith="export_profile").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [("selskap", "1\x00"), ("username", "demo\u2066")])
def test_visma_settings_refuse_control_characters(
    kommune_a: Municipality, admin_a: Any, field: str, value: str
) -> None:
    from integrations.models import VismaSettings

    data = {
        "selskap": "1",
        "base_url": "http://127.0.0.1:9/fakturering_ws/",
        "username": "demo",
        "password": "Hemmelig-42",
        field: value,
    }
    response = _client(admin_a).post(reverse("integrations:settings"), data)
    assert response.status_code == 200
    assert "Teksten inneholder et kontrolltegn" in response.content.decode()
    assert not VismaSettings.objects.exists()


@pytest.mark.django_db
def test_override_reason_keeps_its_line_breaks_but_not_a_nul(
    month: dict[str, InvoiceBasis], superbruker_a: Any
) -> None:
    from exports.models import Export

    url = reverse("exports:override")
    data = {"references": str(month["approved"].pk), "format": "visma"}
    response = _client(superbruker_a).post(url, {**data, "reason": "Feil\r\nfil\x00"})
    assert response.status_code == 200
    assert "kontrolltegn (U+0000)" in response.content.decode()
    assert not Export.objects.exists()
    response = _client(superbruker_a).post(url, {**data, "reason": "Feil fil\r\nsendt på nytt"})
    assert response.status_code == 302
    assert Export.objects.get().override_reason == "Feil fil\r\nsendt på nytt"
