"""English as the second language: Bokmål for everyone who has not chosen, English on request,
and a catalogue that is complete, keeps every placeholder and is compiled.

CI has no GNU gettext, so the compiled `django.mo` is committed; these tests read the `.po` with a
few lines of Python and check that the `.mo` Django actually loads says the same.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

ROOT = Path(settings.BASE_DIR)
PO_FILE = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
COOKIE = settings.LANGUAGE_COOKIE_NAME
SOURCE_DIRS = ("aidn_billing", "invoices", "exports", "integrations", "accounts", "templates")

# ---------------------------------------------------------------------------------------------
# A minimal reader for the .po file


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def _unquote(text: str) -> str:
    value = ast.literal_eval(text)
    assert isinstance(value, str)
    return value


def read_po(path: Path) -> list[Entry]:
    """Entries of a .po file, header included, obsolete (#~) entries left out."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] = ("msgid", 0)
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            current = None
            continue
        if line.startswith("#~"):
            continue
        if current is None:
            current = Entry(line=number)
            entries.append(current)
        if line.startswith("#,"):
            current.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        match = re.fullmatch(r'(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")', line)
        if match:
            keyword, index, value = match.group(1), match.group(2), _unquote(match.group(3))
            if keyword.startswith("msgstr"):
                target = ("msgstr", int(index or 0))
                current.msgstr[target[1]] = value
            else:
                target = (keyword, 0)
                setattr(current, keyword, value)
        elif line.startswith('"'):
            value = _unquote(line)
            if target[0] == "msgstr":
                current.msgstr[target[1]] += value
            else:
                setattr(current, target[0], (getattr(current, target[0]) or "") + value)
        else:
            raise AssertionError(f"{path.name}:{number}: cannot read {raw!r}")
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    entries = read_po(PO_FILE)
    assert entries and entries[0].msgid == "", "the .po file must start with its header"
    return entries


def _messages(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.msgid]


# ---------------------------------------------------------------------------------------------
# The catalogue


def test_catalogue_is_english_and_has_plural_forms(catalogue: list[Entry]) -> None:
    header = catalogue[0].msgstr[0]
    assert "Language: en\n" in header
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header
    assert len(_messages(catalogue)) > 500


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue: list[Entry]) -> None:
    fuzzy = [f"line {e.line}: {e.msgid!r}" for e in catalogue if "fuzzy" in e.flags]
    assert not fuzzy, "fuzzy entries (header included) must be reviewed:\n" + "\n".join(fuzzy)
    untranslated = []
    for e in _messages(catalogue):
        forms = 2 if e.msgid_plural is not None else 1
        if sorted(e.msgstr) != list(range(forms)) or not all(e.msgstr.values()):
            untranslated.append(f"line {e.line}: {e.msgid!r}")
    assert not untranslated, "untranslated:\n" + "\n".join(untranslated)


_PLACEHOLDER = re.compile(r"%\([A-Za-z_]\w*\)[sd]|%[sd]|\{[A-Za-z_]\w*\}")
_MARKUP = re.compile(r"</?[a-z]+[^>]*>|&[a-z]+;")


def _placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


def test_translations_keep_placeholders_and_markup(catalogue: list[Entry]) -> None:
    broken = []
    for e in _messages(catalogue):
        sources = [e.msgid] if e.msgid_plural is None else [e.msgid, e.msgid_plural]
        for index, text in e.msgstr.items():
            source = sources[min(index, len(sources) - 1)]
            if _placeholders(text) != _placeholders(source):
                broken.append(f"line {e.line}: {source!r} -> {text!r} (placeholders)")
            if sorted(_MARKUP.findall(text)) != sorted(_MARKUP.findall(source)):
                broken.append(f"line {e.line}: {source!r} -> {text!r} (markup)")
    assert not broken, "\n".join(broken)


def test_committed_mo_matches_the_po(catalogue: list[Entry]) -> None:
    """Every message, as Django loads it from the compiled .mo, is the .po's msgstr: a .po edited
    without `compilemessages` fails here."""
    assert MO_FILE.is_file(), "run `django-admin compilemessages --ignore=.venv` and commit the .mo"
    stale = []
    with translation.override("en"):
        for e in _messages(catalogue):
            if e.msgid_plural is not None:
                got = [
                    translation.npgettext(e.msgctxt, e.msgid, e.msgid_plural, n)
                    if e.msgctxt
                    else translation.ngettext(e.msgid, e.msgid_plural, n)
                    for n in (1, 2)
                ]
                want = [e.msgstr[0], e.msgstr[1]]
            else:
                got = [
                    translation.pgettext(e.msgctxt, e.msgid)
                    if e.msgctxt
                    else translation.gettext(e.msgid)
                ]
                want = [e.msgstr[0]]
            if got != want:
                stale.append(f"{e.msgid!r}: .mo says {got!r}, .po says {want!r}")
    assert not stale, "the .mo is older than the .po; run compilemessages:\n" + "\n".join(stale)


# Messages in the source code, found without GNU gettext (CI has none): literal first arguments of
# the gettext functions in Python, and {% translate %} / _("…") / {% blocktranslate %} in templates.
_GETTEXT_FUNCS = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy"}
_TEMPLATE_TRANSLATE = re.compile(r"""{%\s*(?:translate|trans)\s+(["'])(.*?)\1""")
_TEMPLATE_UNDERSCORE = re.compile(r"""_\((["'])(.*?)\1\)""")
_BLOCK = re.compile(
    r"{%\s*blocktrans(?:late)?\b([^%]*)%}(.*?){%\s*endblocktrans(?:late)?\s*%}", re.S
)
_BLOCK_VAR = re.compile(r"{{\s*(\w+)\s*}}")


def _python_messages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        first = node.args[0]
        if name in _GETTEXT_FUNCS and isinstance(first, ast.Constant):
            if isinstance(first.value, str):
                found.add(first.value)
    return found


def _template_messages(text: str) -> set[str]:
    found = {m.group(2) for m in _TEMPLATE_TRANSLATE.finditer(text)}
    found |= {m.group(2) for m in _TEMPLATE_UNDERSCORE.finditer(text)}
    for block in _BLOCK.finditer(text):
        if "trimmed" in block.group(1):
            continue  # whitespace is rewritten; xgettext is the only faithful reader
        singular = re.split(r"{%\s*plural\s*%}", block.group(2))[0]
        found.add(_BLOCK_VAR.sub(r"%(\1)s", singular.replace("%", "%%")))
    return found


def _source_messages() -> dict[str, Path]:
    messages: dict[str, Path] = {}
    for top in SOURCE_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if "migrations" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py":
                found = _python_messages(path)
            elif path.suffix in {".html", ".txt"}:
                found = _template_messages(path.read_text(encoding="utf-8"))
            else:
                continue
            for message in found:
                messages.setdefault(message, path.relative_to(ROOT))
    return messages


def test_every_message_in_the_source_is_in_the_catalogue(catalogue: list[Entry]) -> None:
    known = {e.msgid for e in catalogue}
    source = _source_messages()
    assert len(source) > 500, "the source scan found too little; is it still reading the files?"
    missing = sorted(
        f"{path}: {message!r}" for message, path in source.items() if message not in known
    )
    assert not missing, (
        "new UI text without English: run `django-admin makemessages -l en --ignore=.venv "
        "--ignore=var --ignore=tests --ignore=bench`, translate, then compilemessages:\n"
        + "\n".join(missing)
    )


def test_confirm_dialog_texts_are_attributes_not_javascript(catalogue: list[Entry]) -> None:
    """Confirm texts sit in `data-confirm` attributes, read by static/js/app.js: the template
    engine escapes them there, so no quote in either language can break out, and no text is left
    inside inline JavaScript (which the Content-Security-Policy would block anyway)."""
    english = {e.msgid: e.msgstr.get(0, "") for e in catalogue}
    pattern = re.compile(r'data-confirm="{%\s*translate\s+"(.*?)"\s*%}"')
    pages = [p.read_text(encoding="utf-8") for p in (ROOT / "templates").rglob("*.html")]
    texts = [m.group(1) for page in pages for m in pattern.finditer(page)]
    assert len(texts) >= 3
    assert all(english.get(text) for text in texts), "every confirm text has its English"
    assert not any("confirm(" in page for page in pages)


# ---------------------------------------------------------------------------------------------
# Choosing the language


def _lang_attribute(html: str) -> str:
    match = re.search(r'<html lang="([^"]*)"', html)
    assert match, "no <html lang>"
    return match.group(1)


@pytest.mark.django_db
def test_login_page_is_bokmal_even_for_an_english_browser() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Logg inn" in html and "Brukernavn" in html
    assert "Log in" not in html
    assert _lang_attribute(html) == "nb"
    assert response["Content-Language"] == "nb"


@pytest.mark.django_db
def test_choosing_english_shows_the_same_page_in_english_and_back() -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="nb")
    page = reverse("login") + "?next=/fakturagrunnlag/"
    html = client.get(page).content.decode()
    # The switch in the header posts the current page as `next`.
    assert 'name="next" value="/logg-inn/?next=/fakturagrunnlag/"' in html
    assert 'value="en"' in html

    response = client.post(reverse("set_language"), {"language": "en", "next": page})
    assert response.status_code == 302
    assert response["Location"] == page
    assert client.cookies[COOKIE].value == "en"

    response = client.get(page)
    html = response.content.decode()
    assert "Log in" in html and "User name" in html and "Password" in html
    assert "Logg inn" not in html
    assert _lang_attribute(html) == "en"
    assert response["Content-Language"] == "en"
    assert "Cookie" in response["Vary"]

    client.post(reverse("set_language"), {"language": "nb", "next": page})
    html = client.get(page).content.decode()
    assert "Logg inn" in html and _lang_attribute(html) == "nb"


@pytest.mark.django_db
def test_unknown_language_in_the_cookie_means_bokmal() -> None:
    client = Client()
    client.cookies[COOKIE] = "de"
    html = client.get(reverse("login")).content.decode()
    assert "Logg inn" in html and _lang_attribute(html) == "nb"


@pytest.mark.django_db
def test_language_switch_does_not_redirect_off_site() -> None:
    response = Client().post(
        reverse("set_language"), {"language": "en", "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")


@pytest.mark.django_db
def test_signed_in_pages_follow_the_choice(merkantil_a: Any) -> None:
    client = Client()
    client.force_login(merkantil_a)
    html = client.get(reverse("invoices:list")).content.decode()
    assert "Logg ut" in html and "Log out" not in html

    client.cookies[COOKIE] = "en"
    html = client.get(reverse("invoices:list") + "?period=2026-10").content.decode()
    assert "Log out" in html and "Invoice bases" in html
    assert "Logg ut" not in html
    assert _lang_attribute(html) == "en"


@pytest.mark.django_db
def test_the_language_ends_with_the_request() -> None:
    client = Client()
    client.cookies[COOKIE] = "en"
    assert "Log in" in client.get(reverse("login")).content.decode()
    # Work done later in the same thread (a task, the next request) starts from Bokmål again.
    assert translation.get_language() == "nb"
    assert translation.gettext("Logg inn") == "Logg inn"
