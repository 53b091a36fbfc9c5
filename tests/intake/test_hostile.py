"""The intake contract where a careless or hostile sender tests it (spec/intake.md "Precise
rules"): keys twice in one object, invisible control and format characters, every error in the
`{"errors": [...]}` shape, and one 403 for every municipality that is not the key's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from invoices.models import BasisStatus, InvoiceBasis, Municipality, Party
from tests import factories
from tests.intake import helpers

URL = "/api/v1/invoice-bases"
pytestmark = pytest.mark.usefixtures("services_a")

# Letters of the Nordic and Sámi alphabets, and the punctuation names carry.
NORDIC_NAME = "Áile Čoavdda-Đuoddar Ŋuolga Šuvvi Ŧeađ Žiellá æøå ÆØÅ äöü ÄÖÜ ïâ Ïðþ Ǯǧǩ ʼ"


def post_raw(client: Client, body: bytes | str, token: str | None, **extra: Any) -> Any:
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Token {token}"
    data = body.encode() if isinstance(body, str) else body
    return client.post(URL, data=data, content_type="application/json", **extra)


def body_of(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False)


def codes(response: Any) -> list[tuple[int | None, str, str]]:
    return [(e["index"], e["field"], e["code"]) for e in response.json()["errors"]]


# --- keys twice ------------------------------------------------------------------------------


def test_municipality_twice_is_400_not_the_last_one(
    client: Client, token_a: str, kommune_b: Municipality
) -> None:
    """The reported case: the last key would have won and written to 9999."""
    basis = body_of(helpers.basis())
    text = f'{{"municipality": "8888", "municipality": "9999", "invoice_bases": [{basis}]}}'
    response = post_raw(client, text, token_a)
    assert response.status_code == 400
    assert codes(response) == [(None, "municipality", "duplicate_key")]
    assert "«municipality»" in response.json()["errors"][0]["message"]
    assert not InvoiceBasis.objects.exists()


@pytest.mark.parametrize(
    ("fragment", "replacement", "field"),
    [
        ('"kind": "invoice"', '"kind": "invoice", "kind": "credit"', "kind"),
        ('"name": "Kari Nordmann"', '"name": "Kari Nordmann", "name": "Ola"', "payer.name"),
        ('"ansvar": "3100"', '"ansvar": "3100", "ansvar": "9999"', "lines[0].dimensions.ansvar"),
        (
            '"amount_ore": 86000',
            '"amount_ore": 86000, "amount_ore": 1',
            "lines[0].amount_ore",
        ),
    ],
)
def test_a_key_twice_anywhere_is_named_with_its_place(
    client: Client, token_a: str, fragment: str, replacement: str, field: str
) -> None:
    bases = [helpers.basis("R-0"), helpers.basis("R-1")]
    text = body_of(helpers.document(bases))
    # Only the second basis gets the duplicate.
    head, _sep, tail = text.partition('"source_reference": "R-1"')
    assert fragment in tail
    text = head + '"source_reference": "R-1"' + tail.replace(fragment, replacement, 1)
    response = post_raw(client, text, token_a)
    assert response.status_code == 400, response.content
    assert codes(response) == [(1, field, "duplicate_key")]
    assert response.json()["errors"][0]["source_reference"] == "R-1"
    assert not InvoiceBasis.objects.exists()


def test_the_same_key_in_different_objects_is_fine(client: Client, token_a: str) -> None:
    doc = helpers.document([helpers.basis("R-0"), helpers.basis("R-1")])
    assert post_raw(client, body_of(doc), token_a).status_code == 201


# --- control and format characters -----------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "where"),
    [
        ("\u202e", "payer.name"),
        ("\u200e", "lines[0].description"),
        ("\u2066", "lines[0].texts[0]"),
        ("\u2069", "unit.name"),
        ("\ufeff", "recipient.name"),
        ("\u202a", "lines[0].dimensions.ansvar"),
        ("\x00", "payer.address1"),
        ("\x1b", "source_reference"),
    ],
)
def test_control_and_format_characters_are_refused_by_name(
    client: Client, token_a: str, char: str, where: str
) -> None:
    basis = helpers.basis(recipient=helpers.payer(factories.FNR_OTHER, name="Ola Nordmann"))
    line = basis["lines"][0]
    targets = {
        "payer.name": (basis["payer"], "name"),
        "lines[0].description": (line, "description"),
        "unit.name": (basis["unit"], "name"),
        "recipient.name": (basis["recipient"], "name"),
        "lines[0].dimensions.ansvar": (line["dimensions"], "ansvar"),
        "payer.address1": (basis["payer"], "address1"),
        "source_reference": (basis, "source_reference"),
    }
    if where == "lines[0].texts[0]":
        line["texts"][0] = f"4 timer{char}"
    else:
        obj, key = targets[where]
        obj[key] = f"{obj[key][:5]}{char}x"
    response = post_raw(client, body_of(helpers.document([basis])), token_a)
    assert response.status_code == 400, response.content
    assert [(f, c) for _i, f, c in codes(response)] == [(where, "control_character")]
    assert f"U+{ord(char):04X}" in response.json()["errors"][0]["message"]
    assert not InvoiceBasis.objects.exists()


def test_nordic_and_sami_letters_pass_and_are_stored_as_sent(client: Client, token_a: str) -> None:
    basis = helpers.basis(
        payer_obj=helpers.payer(name=NORDIC_NAME, address1="Čáhcegeaidnu 7", place="Kárášjohka"),
        unit={"code": "ÅSEN-ØST", "name": "Heimetenesta Ŋuorttaváldi"},
        lines=[helpers.line(description="Bistand – «vår» tjeneste", texts=["Ovttasbargu ja đ"])],
    )
    response = post_raw(client, body_of(helpers.document([basis])), token_a)
    assert response.status_code == 201, response.content
    party = Party.objects.get()
    assert (party.name, party.address1, party.place) == (
        NORDIC_NAME,
        "Čáhcegeaidnu 7",
        "Kárášjohka",
    )
    stored = InvoiceBasis.objects.get()
    assert stored.unit.code == "ÅSEN-ØST"
    assert stored.lines.get().texts == ["Ovttasbargu ja đ"]


def test_a_credited_reference_with_nul_is_400_not_a_database_error(
    client: Client, token_a: str
) -> None:
    """`credits` was looked up in the database before it was checked."""
    credit = helpers.credit("K-1", credits="HT-2026\x00-1")
    response = Client(raise_request_exception=False).post(
        URL,
        data=body_of(helpers.document([credit])),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token_a}",
    )
    assert response.status_code == 400, response.content[:200]
    assert ("credits", "control_character") in [(f, c) for _i, f, c in codes(response)]
    assert not InvoiceBasis.objects.exists()


# --- municipality: one 403 for all that are not the key's ------------------------------------


@pytest.mark.parametrize("number", ["9998", "1234", "99\x0099", "9999 ", "٩٩٩٩", "x" * 1000])
def test_any_municipality_not_the_keys_is_the_same_403(
    client: Client, token_a: str, kommune_b: Municipality, number: str
) -> None:
    response = post_raw(client, body_of(helpers.document([helpers.basis()], number)), token_a)
    assert response.status_code == 403
    errors = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("municipality", "forbidden_municipality")]
    # The answer is the same sentence whatever the number; it never says whether it exists.
    assert errors[0]["message"] == "API-nøkkelen gjelder ikke for kommunenummeret i dokumentet"
    assert not InvoiceBasis.objects.exists()


@pytest.mark.parametrize(("value", "code"), [(None, "required"), (9999, "invalid_type")])
def test_a_missing_or_non_text_municipality_is_400(
    client: Client, token_a: str, value: Any, code: str
) -> None:
    doc = helpers.document([helpers.basis()])
    doc["municipality"] = value
    response = post_raw(client, body_of(doc), token_a)
    assert response.status_code == 400
    assert codes(response) == [(None, "municipality", code)]


# --- every error in the same shape -----------------------------------------------------------


def assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    payload = json.loads(response.content)
    assert isinstance(payload["errors"], list) and payload["errors"]
    for error in payload["errors"]:
        assert set(error) == {"index", "source_reference", "field", "code", "message"}
        assert error["code"] and error["message"]
    return payload


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_are_405_with_the_error_shape(
    client: Client, token_a: str, method: str
) -> None:
    response = getattr(client, method)(URL, HTTP_AUTHORIZATION=f"Token {token_a}")
    payload = assert_error_shape(response, 405)
    assert payload["errors"][0]["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_head_is_405_without_a_body(client: Client) -> None:
    response = client.head(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


@pytest.mark.parametrize("path", ["/api/v1/invoice-bases/", "/api/v1/fakturagrunnlag", "/api/"])
def test_unknown_api_addresses_are_404_with_the_error_shape(client: Client, path: str) -> None:
    for method in ("get", "post"):
        payload = assert_error_shape(getattr(client, method)(path), 404)
        assert payload["errors"][0]["code"] == "not_found"


def test_every_error_status_has_the_same_shape(client: Client, token_a: str, token_b: str) -> None:
    doc = helpers.document([helpers.basis()])
    assert_error_shape(post_raw(client, b"{", token_a), 400)
    assert_error_shape(post_raw(client, body_of(doc), None), 401)
    assert_error_shape(post_raw(client, body_of(doc), token_b), 403)
    oversize = b"{" + b" " * settings.INTAKE_MAX_BODY_BYTES
    assert_error_shape(post_raw(client, oversize, token_a), 413)
    wrong_type = client.post(
        URL, data=b"{}", content_type="text/plain", HTTP_AUTHORIZATION=f"Token {token_a}"
    )
    assert_error_shape(wrong_type, 415)
    assert post_raw(client, body_of(doc), token_a).status_code == 201
    InvoiceBasis.objects.update(status=BasisStatus.APPROVED)
    changed = helpers.document([helpers.basis(lines=[helpers.line(quantity="5.00")])])
    assert_error_shape(post_raw(client, body_of(changed), token_a), 409)
