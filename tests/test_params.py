"""The parsing every hand-read parameter and every form's text goes through (`core/params.py`,
`core/text.py`, `core.forms.RefusesControlCharacters`)."""

from __future__ import annotations

import datetime
import importlib
import pkgutil
import unicodedata
from typing import Any

import pytest
from django import forms
from django.http import QueryDict
from django.test import RequestFactory

from core import params
from core.forms import RefusesControlCharacters
from core.text import FORBIDDEN, FORBIDDEN_MULTILINE, describe, forbidden_character

# Letters of the Nordic and Sámi alphabets (North, Lule, South, Inari, Skolt), Faroese and
# Icelandic, and the punctuation names and addresses use.
NORDIC = (
    "æøåÆØÅäöüÄÖÜáÁčČđĐŋŊšŠŧŦžŽïÏâÂðÐþÞéÉíÍóÓúÚýÝʼǯǮǧǦǥǤǩǨʒƷõÕàÀ"
    " -–.,'’/()&:;«»\"!?@#%*+=0123456789§½"
)


def qd(**values: str) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in values.items():
        data[key] = value
    return data


def test_the_written_out_classes_are_pythons_own() -> None:
    """Cc, Cf, Zl, Zp and Cs, exactly: a newer Unicode in a newer Python shows up here."""
    wanted = {"Cc", "Cf", "Zl", "Zp", "Cs"}
    for cp in range(0x110000):
        char = chr(cp)
        expected = unicodedata.category(char) in wanted
        assert bool(FORBIDDEN.fullmatch(char)) is expected, describe(char)
        multiline_ok = char in "\t\n\r" or unicodedata.category(char) in {"Zl", "Zp"}
        assert bool(FORBIDDEN_MULTILINE.fullmatch(char)) is (expected and not multiline_ok)


def test_nordic_and_sami_letters_pass() -> None:
    assert forbidden_character(NORDIC) is None
    # Decomposed (a letter and a combining accent) passes too.
    assert forbidden_character(unicodedata.normalize("NFD", NORDIC)) is None


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("a\x00b", "U+0000"),
        ("Kari\u202eNordmann", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\u200eKari", "U+200E LEFT-TO-RIGHT MARK"),
        ("\u2066x\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("\ufeffKari", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("to\nlinjer", "U+000A"),
        ("a\u2028b", "U+2028 LINE SEPARATOR"),
        ("\x85", "U+0085"),
    ],
)
def test_control_and_format_characters_are_named(value: str, named: str) -> None:
    bad = forbidden_character(value)
    assert bad is not None
    assert describe(bad) == named


def test_text_areas_keep_their_line_breaks_but_not_the_rest() -> None:
    assert forbidden_character("linje 1\r\nlinje 2\tx", multiline=True) is None
    assert forbidden_character("linje 1\r\nlinje\x00", multiline=True) == "\x00"
    assert forbidden_character("a\u202eb\n", multiline=True) == "\u202e"


# --- params ----------------------------------------------------------------------------------


def refused(call: Any) -> str:
    with pytest.raises(params.InvalidParameter) as info:
        call()
    return info.value.message


def test_period() -> None:
    assert params.period(qd(period="2026-10")) == "2026-10"
    assert params.period(qd()) == ""
    assert params.period(qd(period=""), default="2026-01") == "2026-01"
    for bad in (
        "2026-13",
        "2026-1",
        "２０２６-１０",
        "2026-10\x00",
        "²026-10",
        "26-10",
        "x" * 10_000,
    ):
        message = refused(lambda bad=bad: params.period(qd(period=bad)))
        assert message.startswith("Ugyldig verdi for «period»: ")


def test_date() -> None:
    assert params.date(qd(fra="2026-10-31"), "fra") == datetime.date(2026, 10, 31)
    assert params.date(qd(), "fra") is None
    assert params.date(qd(fra=""), "fra") is None
    for bad in ("31.10.2026", "2026-02-30", "0000-01-01", "2026-1-1", "２０２６-10-31", "\x00"):
        message = refused(lambda bad=bad: params.date(qd(fra=bad), "fra"))
        assert message.startswith("Ugyldig verdi for «fra»: "), bad


def test_code_takes_any_printable_code_up_to_its_length() -> None:
    assert params.code(qd(unit="HJT-NORD"), "unit") == "HJT-NORD"
    assert params.code(qd(unit="Sone Øst/2"), "unit") == "Sone Øst/2"
    assert params.code(qd(), "unit") == ""
    assert "kontrolltegn (U+0000)" in refused(lambda: params.code(qd(unit="\x00"), "unit"))
    assert "U+202E" in refused(lambda: params.code(qd(unit="\u202eDRON"), "unit"))
    assert "høyst 32" in refused(lambda: params.code(qd(unit="x" * 33), "unit"))


@pytest.mark.parametrize(
    "bad", ["²", "٣", "1_000", " 1 2", "-1", "0", "1.5", "1e3", "9" * 30, "+1"]
)
def test_integer_is_ascii_digits_within_bounds(bad: str) -> None:
    message = refused(lambda: params.integer(qd(n=bad), "n"))
    assert message == "Ugyldig verdi for «n»: ventet et heltall fra 1 til 9223372036854775807."


def test_integer_accepts_the_whole_range() -> None:
    assert params.integer(qd(n="1"), "n") == 1
    assert params.integer(qd(n=str(params.MAX_ID)), "n") == params.MAX_ID
    assert params.integer(qd(n=" 42 "), "n") == 42
    assert params.integer(qd(), "n") is None
    assert params.integer(qd(n="0"), "n", minimum=0) == 0
    assert "kontrolltegn (U+0000)" in refused(lambda: params.integer(qd(n="1\x00"), "n"))
    assert "mangler" in refused(lambda: params.integer(qd(), "n", required=True))
    assert "1 til 10" in refused(lambda: params.integer(qd(n="11"), "n", maximum=10))


def test_page() -> None:
    assert params.page(qd()) == 1
    assert params.page(qd(page="7")) == 7
    assert params.page(qd(side="3"), "side") == 3
    for bad in ("0", "²", "-2", str(params.MAX_PAGE + 1)):
        refused(lambda bad=bad: params.page(qd(page=bad)))


def test_choice() -> None:
    assert params.choice(qd(s="approved"), "s", ["received", "approved"]) == "approved"
    assert params.choice(qd(), "s", ["received"]) == ""
    assert params.choice(qd(), "s", ["received"], default="received") == "received"
    assert refused(lambda: params.choice(qd(s="sent"), "s", ["received"])).endswith("ukjent valg.")
    assert "U+0000" in refused(lambda: params.choice(qd(s="received\x00"), "s", ["received"]))


def test_local_url() -> None:
    request = RequestFactory().post("/")
    assert params.local_url(request, qd(next="/visma/?page=2"), "next", default="/") == (
        "/visma/?page=2"
    )
    for elsewhere in ("https://evil.example/", "//evil.example/", "javascript:alert(1)", ""):
        assert params.local_url(request, qd(next=elsewhere), "next", default="/d/") == "/d/"
    refused(lambda: params.local_url(request, qd(next="/x\x00"), "next", default="/"))


def test_the_last_of_repeated_values_is_the_one_checked() -> None:
    data = QueryDict("unit=HJT&unit=%00")
    refused(lambda: params.code(data, "unit"))


# --- forms -----------------------------------------------------------------------------------


def _product_forms() -> list[type[forms.BaseForm]]:
    for app in ("invoices", "exports", "integrations", "core"):
        package = importlib.import_module(app)
        for info in pkgutil.walk_packages(package.__path__, f"{app}."):
            if info.name.endswith("forms") or ".forms." in info.name:
                importlib.import_module(info.name)
    found: list[type[forms.BaseForm]] = []
    stack: list[type] = [forms.BaseForm]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in {"invoices", "exports", "integrations"}:
            found.append(cls)
    return found


def test_every_form_of_the_product_refuses_control_characters() -> None:
    found = _product_forms()
    names = {cls.__name__ for cls in found}
    assert {"ApiTokenForm", "ExportProfileForm", "VismaSettingsForm", "OverrideExportForm"} <= names
    missing = [cls.__name__ for cls in found if not issubclass(cls, RefusesControlCharacters)]
    assert not missing, f"add RefusesControlCharacters to {missing}"


class _Sample(RefusesControlCharacters, forms.Form):
    name = forms.CharField(max_length=100)
    reason = forms.CharField(widget=forms.Textarea)
    format = forms.ChoiceField(choices=[("visma", "Visma")])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["late"] = forms.CharField(required=False)


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\u200e", "\u2066", "\ufeff", "\x1b"])
def test_a_form_names_the_character_in_every_text_field(char: str) -> None:
    form = _Sample(
        {
            "name": f"Kari{char}",
            "reason": f"linje 1\r\nlinje{char}",
            "format": "visma",
            "late": char,
        }
    )
    assert not form.is_valid()
    assert set(form.errors) == {"name", "reason", "late"}
    for field in ("name", "reason", "late"):
        errors = form.errors.as_data()[field]
        assert [e.code for e in errors] == ["control_character"], field
        assert describe(char) in str(form.errors[field]), field


def test_a_form_takes_nordic_letters_and_line_breaks_in_text_areas() -> None:
    form = _Sample({"name": NORDIC[:100], "reason": NORDIC + "\r\n" + NORDIC, "format": "visma"})
    assert form.is_valid(), form.errors
