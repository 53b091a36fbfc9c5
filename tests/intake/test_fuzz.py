"""Fuzzing the intake API (reliability.md promise 7): random shapes and values, and valid
documents with one part replaced by garbage. Never a 500, and a refused request stores nothing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoices.models import InvoiceBasis, InvoiceLine, Party, Unit
from tests.intake import helpers

URL = "/api/v1/invoice-bases"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=70)
    | st.sampled_from(
        [
            "",
            "9999",
            "2026-10",
            "-0.5",
            "4.00",
            "PB",
            "ansvar",
            "credit",
            "invoice",
            "15899010059",
            "988077917",
            "\x00",
            "\ud800",
            "x" * 51,
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def encode(doc: Any) -> bytes:
    # ASCII escapes, so lone surrogates travel as "\\ud800" the way a client would send them.
    return json.dumps(doc).encode()


def counts() -> tuple[int, int, int, int]:
    return (
        InvoiceBasis.objects.count(),
        InvoiceLine.objects.count(),
        Party.objects.count(),
        Unit.objects.count(),
    )


def send(client: Client, token: str, body: bytes) -> int:
    before = counts()
    response = client.post(
        URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    # 403: the document names another municipality than the key's (the broken part may be it).
    assert response.status_code in {201, 400, 403, 409}, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    if response.status_code != 201:
        assert counts() == before, "a refused request stored something"
        assert response.json()["errors"]
    return response.status_code


def mutate(doc: Any, path: list[Any], value: Any, delete: bool) -> Any:
    """Replace (or delete) the part of `doc` that `path` leads to, as far as the path fits."""
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        if isinstance(node, dict) and node:
            key = sorted(node)[step % len(node)]
        elif isinstance(node, list) and node:
            key = step % len(node)
        else:
            break
        child = node[key]
        if not isinstance(child, dict | list):
            break
        node = child
    if isinstance(node, dict) and node:
        key = sorted(node)[path[-1] % len(node)]
        if delete:
            del node[key]
        else:
            node[key] = value
    elif isinstance(node, list) and node:
        index = path[-1] % len(node)
        if delete:
            del node[index]
        else:
            node[index] = value
    return doc


@pytest.mark.usefixtures("services_a")
@FUZZ
@given(
    path=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=6),
    value=json_values,
    delete=st.booleans(),
)
def test_valid_document_with_one_part_broken(
    client: Client, token_a: str, path: list[int], value: Any, delete: bool
) -> None:
    bases = [
        helpers.basis("F-1", lines=[helpers.line(), helpers.line("TA", "1.00", 30000)]),
        helpers.credit("F-2", "F-1", recipient={"national_id": "55899010042", "name": "D"}),
        helpers.basis("F-3", payer_obj={"org_number": "988077917", "name": "Omsorg AS"}),
    ]
    send(client, token_a, encode(mutate(helpers.document(bases), path, value, delete)))


@pytest.mark.usefixtures("services_a")
@FUZZ
@given(doc=json_values)
def test_random_json(client: Client, token_a: str, doc: Any) -> None:
    assert send(client, token_a, encode(doc)) == 400


@pytest.mark.usefixtures("services_a")
@FUZZ
@given(bases=st.lists(json_values, max_size=4))
def test_random_bases(client: Client, token_a: str, bases: list[Any]) -> None:
    send(client, token_a, encode({"municipality": "9999", "invoice_bases": bases}))


@pytest.mark.usefixtures("services_a")
@FUZZ
@given(body=st.binary(min_size=1, max_size=300))  # the test client drops an empty body
def test_random_bytes(client: Client, token_a: str, body: bytes) -> None:
    send(client, token_a, body)
