"""Transliteration: explicit table, then NFKD, then '?'; only what the encoding lacks."""

from __future__ import annotations

import pytest

from exports.formats.checks import wrap_text
from exports.formats.encoding import codec


@pytest.mark.parametrize(
    ("text", "latin1"),
    [
        ("Čáhppes Đuoddar Ŋuolla Šuvdi Ŧeahkki Žieđ", "Cáhppes Duoddar Nuolla Suvdi Teahkki Zied"),
        ("čđŋšŧž", "cdnstz"),
        ("Blåbærsyltetøy ÆØÅ", "Blåbærsyltetøy ÆØÅ"),
        ("“sitat” ‘enkelt’ – tankestrek … €", "\"sitat\" 'enkelt' - tankestrek ... EUR"),
        ("Ǩǩ ǧ ʒ", "Kk g z"),
        ("ﬁ ő", "fi o"),  # NFKD: ligature and double acute
        ("中", "?"),
        ("linje\r\nto\nog\ttre", "linje to og tre"),
    ],
)
def test_latin1(text: str, latin1: str) -> None:
    c = codec("iso-8859-1")
    assert c.clean(text) == latin1
    c.encode(c.clean(text))  # never raises after cleaning


def test_cp1252_keeps_what_it_has() -> None:
    c = codec("cp1252")
    assert c.clean("Šiŧ “ok” – €") == "Šit “ok” – €"
    assert c.needs_transliteration("Šiŧ")
    assert not c.needs_transliteration("Š “ok”")
    assert codec("iso-8859-1").needs_transliteration("Š")


def test_needs_transliteration_ignores_line_breaks() -> None:
    c = codec("iso-8859-1")
    assert not c.needs_transliteration("æ\nø")
    assert c.clean("æ\nø") == "æ ø"


def test_unsupported_encoding() -> None:
    with pytest.raises(ValueError, match="tegnsett"):
        codec("utf-8")


def test_wrap_on_words_and_split_long_words() -> None:
    assert wrap_text("kort", 10) == ["kort"]
    assert wrap_text("a  b", 10) == ["a  b"]  # a text that fits is kept as it is
    assert wrap_text("en to tre fire fem", 9) == ["en to tre", "fire fem"]
    assert wrap_text("abcdefghijklmnop qr", 5) == ["abcde", "fghij", "klmno", "p qr"]
    assert wrap_text(" " * 12, 10) == [""]
    assert all(len(line) <= 50 for line in wrap_text("ord " * 40, 50))
