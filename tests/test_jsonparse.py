"""`core/jsonparse.py`: JSON where a key twice in one object is an error, and the place of every
such key can be named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import jsonparse

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_without_duplicates_it_reads_like_json(value: Any) -> None:
    text = json.dumps(value)
    assert jsonparse.loads(text) == json.loads(text)
    assert list(jsonparse.duplicate_keys(jsonparse.loads_marked(text))) == []


def _paths(value: Any, path: jsonparse.Path = ()) -> list[jsonparse.Path]:
    """The path of every object in `value`."""
    found = []
    if isinstance(value, dict):
        found.append(path)
        for k, v in value.items():
            found += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*path, i))
    return found


def _dump_with_duplicate(
    value: Any, target: jsonparse.Path, key: str, path: jsonparse.Path = ()
) -> str:
    """`value` as JSON, with `"key": 0` written twice into the object at `target`."""
    if isinstance(value, dict):
        members = [
            f"{json.dumps(k)}: {_dump_with_duplicate(v, target, key, (*path, k))}"
            for k, v in value.items()
            if not (path == target and k == key)
        ]
        if path == target:
            members += [f"{json.dumps(key)}: 0", f"{json.dumps(key)}: 1"]
        return "{" + ", ".join(members) + "}"
    if isinstance(value, list):
        parts = [_dump_with_duplicate(v, target, key, (*path, i)) for i, v in enumerate(value)]
        return "[" + ", ".join(parts) + "]"
    return json.dumps(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=3), JSON, max_size=4), st.data(), st.text(max_size=3))
def test_a_duplicate_anywhere_is_refused_and_found_at_its_place(
    value: dict[str, Any], data: Any, key: str
) -> None:
    target = data.draw(st.sampled_from(_paths(value)))
    text = _dump_with_duplicate(value, target, key)
    with pytest.raises(jsonparse.DuplicateKey) as caught:
        jsonparse.loads(text)
    assert caught.value.key == key
    marked = jsonparse.loads_marked(text)
    assert list(jsonparse.duplicate_keys(marked)) == [(target, key)]
    # Read the way Python reads it otherwise: the last one wins.
    assert marked == json.loads(text)


def test_every_duplicate_is_reported_in_document_order() -> None:
    text = '{"a": 1, "a": 2, "b": [{"c": 1, "c": 1, "c": 3}, {"d": {"e": 1, "e": 1}}], "b": []}'
    found = list(jsonparse.duplicate_keys(jsonparse.loads_marked(text)))
    assert found == [((), "a"), ((), "b")]
    text = '{"a": 1, "a": 2, "b": [{"c": 1, "c": 1, "c": 3}, {"d": {"e": 1, "e": 1}}]}'
    found = list(jsonparse.duplicate_keys(jsonparse.loads_marked(text)))
    assert found == [((), "a"), (("b", 0), "c"), (("b", 1, "d"), "e")]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_constants_that_are_not_json_are_refused(constant: str) -> None:
    with pytest.raises(jsonparse.NotJson):
        jsonparse.loads(f'{{"a": {constant}}}')


def test_format_path() -> None:
    assert (
        jsonparse.format_path(("lines", 0, "dimensions", "ansvar")) == "lines[0].dimensions.ansvar"
    )
    assert jsonparse.format_path(("payer", "name")) == "payer.name"
    assert jsonparse.format_path((3, "x")) == "[3].x"
    assert jsonparse.format_path(()) == ""
