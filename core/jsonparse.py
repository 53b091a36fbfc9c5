"""JSON read strictly: a key that appears twice in one object is an error.

Python's `json` keeps the last of two equal keys without a word, so
`{"municipality": "8888", "municipality": "9999"}` reads as 9999 while a reader that keeps the
first (or a person) sees 8888. A document that says two things is refused instead.

`refuse_duplicates` is the `object_pairs_hook` of the fast pass: it raises at the first duplicate.
Only then is the document read again with `mark_duplicates`, and `duplicate_keys` says where each
duplicate sits, so the error can name its place (`invoice_bases[3].payer.name`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Path = tuple[str | int, ...]


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


class NotJson(ValueError):
    """NaN, Infinity and -Infinity: Python reads them, JSON has no such thing."""


def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


class _Marked(dict[str, Any]):
    """An object that had keys twice (the last value of each kept, as Python would)."""

    duplicates: list[str]


def mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Marked(obj)
    seen: set[str] = set()
    marked.duplicates = []
    for key, _value in pairs:
        if key in seen and key not in marked.duplicates:
            marked.duplicates.append(key)
        seen.add(key)
    return marked


def duplicate_keys(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path of the object, key) for every key twice in one object of a `mark_duplicates` read."""
    stack: list[tuple[Path, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item, _Marked):
                for key in item.duplicates:
                    yield where, key
            stack.extend(((*where, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*where, i), v) for i, v in reversed(list(enumerate(item))))


def refuse_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


def loads(text: str) -> Any:
    """`json.loads`, except that a key twice in one object raises DuplicateKey and NaN or
    Infinity raise NotJson."""
    return json.loads(text, object_pairs_hook=refuse_duplicates, parse_constant=refuse_constant)


def loads_marked(text: str) -> Any:
    """The document read again to find its duplicates (see `duplicate_keys`)."""
    return json.loads(text, object_pairs_hook=mark_duplicates, parse_constant=refuse_constant)


def format_path(path: Path) -> str:
    """`("lines", 0, "dimensions", "ansvar")` → `lines[0].dimensions.ansvar`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
