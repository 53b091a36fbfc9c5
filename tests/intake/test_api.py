"""`POST /api/v1/invoice-bases` over HTTP (spec/intake.md "HTTP", "Answers", "Precise rules")."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from invoices import api
from invoices.models import ApiToken, BasisStatus, InvoiceBasis, Municipality
from invoices.services import api_token_revoke, hash_token
from tests.intake import helpers

URL = "/api/v1/invoice-bases"
pytestmark = pytest.mark.usefixtures("services_a")


def post(
    client: Client,
    data: Any,
    token: str | None,
    content_type: str = "application/json",
    **extra: Any,
) -> Any:
    body = data if isinstance(data, bytes) else helpers.body(data)
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client.post(URL, data=body, content_type=content_type, **extra)


def test_valid_batch_then_the_same_again(
    client: Client, token_a: str, kommune_a: Municipality
) -> None:
    doc = helpers.document(helpers.batch(4))
    first = post(client, doc, token_a)
    assert first.status_code == 201
    assert first.json() == {"created": 4, "updated": 0, "unchanged": 0}
    again = post(client, doc, token_a)
    assert again.status_code == 201
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 4}
    assert InvoiceBasis.objects.filter(municipality=kommune_a).count() == 4


def test_correction_before_and_after_approval(client: Client, token_a: str) -> None:
    post(client, helpers.document([helpers.basis("HT-1"), helpers.basis("HT-2")]), token_a)
    corrected = helpers.basis("HT-1", lines=[helpers.line(quantity="1.00")])
    response = post(client, helpers.document([corrected]), token_a)
    assert (response.status_code, response.json()) == (
        201,
        {"created": 0, "updated": 1, "unchanged": 0},
    )

    InvoiceBasis.objects.filter(source_reference="HT-2").update(status=BasisStatus.APPROVED)
    changed = helpers.basis("HT-2", lines=[helpers.line(quantity="9.00")])
    response = post(client, helpers.document([changed]), token_a)
    assert response.status_code == 409
    body = response.json()
    assert body["conflicts"] == ["HT-2"]
    assert body["errors"][0]["source_reference"] == "HT-2"
    assert body["errors"][0]["code"] == "changed_after_approval"


def test_one_bad_record_among_a_thousand(client: Client, token_a: str) -> None:
    bases = helpers.batch(1000)
    bases[421]["payer"]["national_id"] = "15899010050"  # K2 wrong
    response = post(client, helpers.document(bases), token_a)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "index": 421,
            "source_reference": "HT-000422",
            "field": "payer.national_id",
            "code": "invalid_checksum",
            "message": "Fødselsnummeret har feil kontrollsiffer",
        }
    ]
    assert InvoiceBasis.objects.count() == 0


# 2032-rule numbers (K1 remainder 1–3), a D-nummer, and H-numbers (month + 40) old and new rule.
EVERY_KIND = {
    "A": "15899010067",
    "B": "15899010075",
    "C": "15899010083",
    "D": "55899010042",
    "H": "15499010076",
    "H2032": "15499010181",
}


def test_2032_d_and_h_numbers_accepted(client: Client, token_a: str) -> None:
    bases = [helpers.basis(ref, payer_obj=helpers.payer(nid)) for ref, nid in EVERY_KIND.items()]
    response = post(client, helpers.document(bases), token_a)
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == len(EVERY_KIND)
    stored = dict(InvoiceBasis.objects.values_list("source_reference", "payer__national_id"))
    assert stored == EVERY_KIND


def test_h_numbers_accepted_when_test_data_is_off(
    client: Client, token_a: str, settings: Any
) -> None:
    """An H-nummer is a real person's number, not test data; a Tenor number is refused."""
    settings.ALLOW_SYNTHETIC_IDS = False
    h_number = helpers.basis("H", payer_obj=helpers.payer(EVERY_KIND["H"]))
    assert post(client, helpers.document([h_number]), token_a).status_code == 201
    tenor = helpers.basis("T", payer_obj=helpers.payer(EVERY_KIND["A"]))
    response = post(client, helpers.document([tenor]), token_a)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["synthetic_id"]


def test_duplicate_references(client: Client, token_a: str) -> None:
    response = post(client, helpers.document([helpers.basis("X"), helpers.basis("X")]), token_a)
    assert response.status_code == 400
    assert [(e["index"], e["code"]) for e in response.json()["errors"]] == [
        (1, "duplicate_reference")
    ]


# --- authentication and tenants ----------------------------------------------------------------


def test_missing_wrong_and_revoked_tokens(client: Client, token_a: str, admin_a: Any) -> None:
    doc = helpers.document([helpers.basis()])
    assert post(client, doc, None).status_code == 401
    assert post(client, doc, "fgk_wrong").status_code == 401
    assert post(client, doc, token_a[:-1]).status_code == 401
    response = client.post(
        URL,
        data=helpers.body(doc),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_a}",
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert post(client, doc, token_a).status_code == 201
    api_token_revoke(ApiToken.objects.get(token_hash=hash_token(token_a)), admin_a)
    response = post(client, doc, token_a)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "unauthorized"


def test_token_is_stored_hashed_and_marks_its_use(client: Client, token_a: str) -> None:
    token = ApiToken.objects.get()
    assert token.token_hash == hash_token(token_a)
    assert token_a not in (token.token_hash, token.prefix, token.name)
    assert token.prefix == token_a[:8]
    assert token.last_used_at is None
    post(client, helpers.document([]), token_a)
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timezone.timedelta(minutes=1)


def test_other_municipality_and_unknown_are_the_same_403(
    client: Client, token_a: str, token_b: str, kommune_b: Municipality
) -> None:
    """A key holder cannot tell another tenant's number from a number no tenant has."""
    doc = helpers.document([helpers.basis()])
    response = post(client, doc, token_b)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "forbidden_municipality"
    assert not InvoiceBasis.objects.exists()
    unknown = post(client, helpers.document([helpers.basis()], municipality="1234"), token_a)
    assert unknown.status_code == 403
    assert unknown.json() == post(client, helpers.document([], "9998"), token_a).json()


def test_each_token_writes_only_its_own_municipality(
    client: Client,
    token_a: str,
    token_b: str,
    kommune_a: Municipality,
    kommune_b: Municipality,
    services_b: Any,
) -> None:
    assert post(client, helpers.document([helpers.basis("R")], "9998"), token_b).status_code == 201
    assert post(client, helpers.document([helpers.basis("R")], "9999"), token_a).status_code == 201
    assert InvoiceBasis.objects.get(municipality=kommune_b).source_reference == "R"
    assert InvoiceBasis.objects.get(municipality=kommune_a).source_reference == "R"


# --- transport -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
    ],
)
def test_json_content_types_accepted(client: Client, token_a: str, content_type: str) -> None:
    assert post(client, helpers.document([]), token_a, content_type=content_type).status_code == 201


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/jsonx",
        "application/json; boundary=x",
        "",
    ],
)
def test_other_content_types_are_415(client: Client, token_a: str, content_type: str) -> None:
    response = post(client, helpers.document([helpers.basis()]), token_a, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["detail"]
    assert not InvoiceBasis.objects.exists()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"municipality": "9999", "invoice_bases": [', "Ugyldig JSON"),
        (b"   ", "Ugyldig JSON"),
        (b"{'municipality': '9999'}", "Ugyldig JSON"),
        (b'{"municipality": "9999", "invoice_bases": [NaN]}', "Ugyldig JSON"),
        (b"[" * 100_000, "Ugyldig JSON"),
        ('{"municipality": "9999", "invoice_bases": [], "x": "æ"}'.encode("latin-1"), "UTF-8"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_malformed_bodies_are_400_with_a_plain_message(
    client: Client, token_a: str, body: bytes, fragment: str
) -> None:
    response = post(client, body, token_a)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]
    assert response.json()["errors"][0]["code"] == "malformed_json"


def test_utf8_byte_order_mark_is_accepted(client: Client, token_a: str) -> None:
    response = post(client, b"\xef\xbb\xbf" + helpers.body(helpers.document([])), token_a)
    assert response.status_code == 201


def test_oversize_body_is_413(client: Client, token_a: str) -> None:
    limit = settings.INTAKE_MAX_BODY_BYTES
    doc = helpers.body(helpers.document([helpers.basis()]))
    padded = doc[:-1] + b" " * (limit + 1 - len(doc)) + b"}"
    assert len(padded) == limit + 1
    response = post(client, padded, token_a)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"
    exactly = doc[:-1] + b" " * (limit - len(doc)) + b"}"
    assert post(client, exactly, token_a).status_code == 201


def test_declared_length_over_the_limit_is_413_without_reading(
    client: Client, token_a: str
) -> None:
    limit = settings.INTAKE_MAX_BODY_BYTES
    response = post(client, b"{}", token_a, CONTENT_LENGTH=str(limit + 1))
    assert response.status_code == 413


def test_more_bytes_than_declared_are_caught_too() -> None:
    limit = settings.INTAKE_MAX_BODY_BYTES
    request = SimpleNamespace(META={}, read=lambda n: b"x" * n)  # no Content-Length at all
    assert api._read_body(request) is None  # type: ignore[arg-type]
    small = SimpleNamespace(META={"CONTENT_LENGTH": "2"}, read=io.BytesIO(b"{}").read)
    assert api._read_body(small) == b"{}"  # type: ignore[arg-type]
    # A stream that gives a little at a time is read to its end.
    trickle = io.BufferedReader(io.BytesIO(b'{"a": 1}'), buffer_size=1)
    slow = SimpleNamespace(META={"CONTENT_LENGTH": "8"}, read=lambda n: trickle.read1(1))
    assert api._read_body(slow) == b'{"a": 1}'  # type: ignore[arg-type]
    assert limit > 8


def test_get_is_not_allowed(client: Client, token_a: str) -> None:
    assert client.get(URL, HTTP_AUTHORIZATION=f"Token {token_a}").status_code == 405


def test_no_csrf_token_needed(token_a: str) -> None:
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, helpers.document([]), token_a).status_code == 201


# --- precedence: 401, 403, 415, 413, 400 --------------------------------------------------------


def test_precedence(client: Client, token_a: str, token_b: str) -> None:
    limit = settings.INTAKE_MAX_BODY_BYTES
    oversize = b"{" + b" " * limit
    doc_a = helpers.document([helpers.basis()])
    bad_basis = helpers.document([{"source_reference": ""}])

    # no token beats everything
    assert post(client, oversize, None, content_type="text/plain").status_code == 401
    # another municipality's document beats a wrong content type
    assert post(client, doc_a, token_b, content_type="text/plain").status_code == 403
    # wrong content type beats size and syntax
    assert post(client, oversize, token_a, content_type="text/plain").status_code == 415
    assert post(client, b"{nope", token_a, content_type="text/plain").status_code == 415
    # size beats syntax
    assert post(client, oversize, token_a).status_code == 413
    # a municipality that is not the key's, known or not, is 403 like another tenant's
    assert (
        post(client, helpers.document([], "1234"), token_a, content_type="text/plain").status_code
        == 403
    )
    # then 400: syntax, keys twice, invalid bases
    assert post(client, b"{nope", token_a).status_code == 400
    assert (
        post(client, b'{"municipality": "9998", "municipality": "9999"}', token_a).status_code
        == 400
    )
    assert post(client, bad_basis, token_a).status_code == 400
    # 403 also for an otherwise invalid document, before 400
    assert post(client, bad_basis, token_b).status_code == 403
    assert not InvoiceBasis.objects.exists()


def test_error_body_shape(client: Client, token_a: str) -> None:
    doc = helpers.document([helpers.basis(lines=[helpers.line(amount_ore=1)])])
    response = post(client, doc, token_a)
    assert (response.status_code, response["Content-Type"]) == (400, "application/json")
    # The bytes as sent, with the spec's types: index a number, everything else strings.
    assert json.loads(response.content.decode("utf-8")) == {
        "errors": [
            {
                "index": 0,
                "source_reference": "HT-2026-10-000001",
                "field": "lines[0].amount_ore",
                "code": "amount_mismatch",
                "message": "Beløpet skal være 86000 øre (antall × enhetspris, avrundet til hele"
                " øre), ikke 1",
            }
        ]
    }


def test_messages_are_bokmal_whatever_the_client_asks_for(client: Client, token_a: str) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    doc = helpers.document([helpers.basis(lines=[helpers.line(amount_ore=1)])])
    response = post(client, doc, token_a, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.json()["errors"][0]["message"].startswith("Beløpet skal være")
    response = post(client, b"{", token_a, HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["detail"].startswith("Ugyldig JSON")
