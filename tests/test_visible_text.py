"""No code where a person reads words: every page of the demo, as each demo persona.

With the demo data (`seed_demo` with three months: an approved and exported history, anomaly
warnings, validation errors, credit notes) plus one Visma transfer and one test transfer against
the local simulator, the test crawls the product as `admin`, `merkantil` and `superbruker`, and
once more as `merkantil` in English (the language cookie of the header's switch). The crawl
starts at `/` and `/oversikt/` (whose menu links every section) and at pages chosen from the
data that the caps could pass by (a basis of every status and kind, with each validation finding
and each anomaly, the credit form, the progress fragments), and follows same-site links
(`<a href>`) and htmx fragments (`hx-get`). At most PER_KIND pages of one kind (URL name and
query keys; the chosen pages do not count) and MAX_PAGES pages per persona. Left out: downloads
(URL names ending in _csv/_xlsx/download, and any answer that is an attachment or not HTML), the
log-out and the language switch (POST only), the API and the operators' admin (Django's own).

Asserted, collected over all pages and personas into one message:

- every page answers 200 (after any redirect): a 500, or a 403/404 behind a link, fails. A chosen
  page may answer 403, since no link led the role there;
- the visible text (text nodes outside <head>, <script>, <style>, <template> and `hidden`
  elements, plus the page title, button values and placeholders; not attributes such as
  `title`, where the product keeps codes for support) holds no
  * snake_case identifier (`zero_amount`, `batch_id`),
  * camelCase field name (`grunnlagId`),
  * indexed or dotted field path (`lines[1].description`, `payer.postcode`,
    `invoice_basis.approve`),
  * raw code, as a whole word, collected from the code: every lowercase value of the apps'
    choices (`received`, `extended`, `done`), every key of `ISSUE_LABELS`,
  * Visma status code (`MOTTATT`, `AVVIST`) or any other code in brackets, except right after
    its own label: the convention of integrations/labels.py, "Mottatt av Visma (MOTTATT)",
    and of the audit log, "Fakturagrunnlag godkjent (invoice_basis.approve)".

The allowances, each narrow and explained where it is defined: choice values that are Norwegian
words or names (CODE_ALLOWED), English words in the English crawl (ENGLISH_WORDS), file names,
e-mail addresses and URLs, the header text's placeholders, and the Agresso files' field names in
brackets after their label on the export settings page.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import lxml.html
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.urls import Resolver404, resolve, reverse
from django.utils import translation

from exports.models import HEADER_TEXT_FIELDS, Export
from integrations import delivery, services, wakeup
from integrations import timeline as visma_timeline
from integrations.labels import VISMA_STATUS
from integrations.models import Transfer, TransferStatus, VismaSettings
from integrations.visma_simulator import start_simulator
from invoices import audit_words
from invoices.labels import FIELD_NAMES, ISSUE_LABELS
from invoices.models import Anomaly, BasisKind, BasisStatus, InvoiceBasis, Municipality
from invoices.services import invoice_basis_approve
from invoices.validation import validate_stored
from tests.conftest import refresh_planner_statistics

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

PERIOD = "2026-10"
# Three months: two approved and exported months behind the open one are enough history for the
# anomaly warnings, and the open month has the planted validation errors and credit notes.
MONTHS = 3
PERSONAS = ("admin", "merkantil", "superbruker")
START = ("/", "/oversikt/")
MAX_PAGES = 120
PER_KIND = 3

# Never fetched: the operators' admin (Django's own pages), the language switch and the log-out
# (POST only), the API (JSON), static files.
SKIP_PREFIXES = ("/driftsadmin/", "/i18n/", "/logg-ut/", "/api/", "/static/", "/favicon.ico")
# Downloads, by URL name: a file, not a page.
DOWNLOAD_NAME = re.compile(r"(_csv|_xlsx|download.*)$")

# --- what must not be read -------------------------------------------------------------------

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
# A capital inside a word that goes on in lowercase: `grunnlagId`, not the unit `kB`.
CAMEL = re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]+)+\b")
# `lines[1].description`, `lines[0]`: an indexed path of the intake document.
INDEXED_PATH = re.compile(r"\b[a-z_]+\[\d+\](?:\.[a-z_]+)*")
# `payer.postcode`, `invoice_basis.approve`: a dotted path. Only one with an underscore or a field
# name of the intake document in it counts; Norwegian abbreviations ("f.eks.", "org.nr.") do not.
DOTTED = re.compile(r"\b[a-z_]+(?:\.[a-z_]+)+\b")

# Choice values that are also ordinary words of the page, or names shown as names:
# - the roles are Norwegian words, and the demo's user names are the role names ("merkantil ·
#   Merkantil / fakturaansvarlig" in the header): the user name is data;
# - "sent" is Norwegian ("for sent"); the Bokmål text may use it;
# - "visma" and "agresso" are the systems' names (written with a capital in text; file names
#   such as `visma_9999_2026-10.txt` are matched by the file-name allowance below).
CODE_ALLOWED = {
    "systemadministrator",
    "merkantil",
    "superbruker",
    "lesetilgang",
    "sent",
    "visma",
    "agresso",
}
# Raw codes that English text may legitimately use as words ("Basic", "done", "failed").
ENGLISH_WORDS = {
    "invoice",
    "credit",
    "received",
    "approved",
    "exported",
    "sending",
    "failed",
    "queued",
    "running",
    "done",
    "stopped",
    "refused",
    "pending",
    "unknown",
    "rejected",
    "validated",
    "extended",
    "basic",
    "classic",
    "wide",
    "validating",
    "writing",
    "saving",
    "duplicate",
    "required",
    "test",
}

# Allowed where they are data, not code:
# - file names of exports and downloads (`fakturagrunnlag_9999_2026-10.csv`, `visma_….txt`):
#   the name the file is saved under, shown so a person can find it again;
# - e-mail addresses, URLs and parts of a URL ending in a slash: the Visma settings page tells
#   the address to type, which ends in «…/fakturering_ws/»;
# - the header text's placeholders (`{unit_name}`): syntax the administrator types into the field.
FILE_NAME = re.compile(r"\b[\w.-]+\.(?:csv|xlsx|txt|json|xml|zip)\b", re.IGNORECASE)
EMAIL_OR_URL = re.compile(r"\S+@\S+|\bhttps?://\S+|\S+/(?=[\s»)]|$)")
PLACEHOLDER = re.compile(
    r"\{(?:%s)\}" % "|".join(sorted(HEADER_TEXT_FIELDS))  # noqa: UP031
)
# The field names of the Agresso files (exports/layouts/*.csv) may stand in brackets after their
# Norwegian label on the export settings page, "Bilagsart (voucher_type)": the administrator
# matches them with UBW's documentation. Bare, they count as codes like any other.
LAYOUTS = Path(__file__).resolve().parent.parent / "exports" / "layouts"


@dataclass
class Codes:
    words: set[str] = field(default_factory=set)  # lowercase codes, matched as whole words
    labelled: list[tuple[str, Any]] = field(default_factory=list)  # (code, its label)
    paths: set[str] = field(default_factory=set)  # dotted codes (audit actions)
    external: set[str] = field(default_factory=set)  # the Agresso files' field names
    bracketed: set[str] = field(default_factory=set)  # every code, for "(sent)" not after its label


def collect_codes() -> Codes:
    """From the code: every value of the apps' choices with its label, every validation
    finding's code, every audit action, the Visma statuses and the Agresso field names."""
    codes = Codes()
    for model in apps.get_models():
        if model._meta.app_label not in {"invoices", "exports", "integrations", "accounts"}:
            continue
        for f in model._meta.get_fields():
            if isinstance(f, models.CharField) and f.choices:
                for value, label in f.choices:
                    if isinstance(value, str):
                        codes.labelled.append((value, label))
                        if re.fullmatch(r"[a-z][a-z0-9_]+", value):
                            codes.words.add(value)
    codes.words |= set(ISSUE_LABELS)
    codes.words -= CODE_ALLOWED
    codes.labelled += list(ISSUE_LABELS.items()) + list(VISMA_STATUS.items())
    # The timeline's words for Visma's answers: "Svar fra Visma: mottatt (MOTTATT)".
    codes.labelled += list(visma_timeline.ANSWERS.items())
    codes.labelled += list(visma_timeline.STATES_IN_VISMA.items())
    # Not the roles: the demo's user names are the role names, "Startet … (merkantil)".
    codes.bracketed = {value for value, _label in codes.labelled} - (CODE_ALLOWED - {"sent"})
    for action, words in audit_words.vocabulary().actions.items():
        codes.labelled.append((action, words.label))
        codes.paths.add(action)
    codes.paths |= set(FIELD_NAMES)
    for name in ("agresso_lg04.csv", "agresso_cs15.csv"):
        with (LAYOUTS / name).open(encoding="utf-8") as rows:
            codes.external |= {row["field"] for row in csv.DictReader(rows)}
    # Longest labels first, so that "Avvist av Visma (AVVIST)" goes before "Avvist (…)".
    codes.labelled.sort(key=lambda pair: -len(str(pair[1])))
    return codes


def visible_text(html: str) -> str:
    """What a reader sees: the text nodes of the body, the page's title (the browser's tab),
    the values of buttons and the placeholders of fields. Not attributes such as `title`."""
    if not html.strip():
        return ""
    root = lxml.html.fromstring(html)
    parts: list[str] = []
    for title in root.iter("title"):
        parts.extend(title.itertext())
    for value in root.xpath("//input[@type='submit' or @type='button']/@value | //*/@placeholder"):
        parts.append(str(value))
    for el in list(root.iter("head", "script", "style", "template")) + root.xpath("//*[@hidden]"):
        if el.getparent() is not None:
            el.drop_tree()
    if root.tag in {"head", "script", "style", "template"}:
        return " ".join(parts)
    # Node by node: the words of two neighbouring links must not run together.
    parts.extend(root.itertext())
    return re.sub(r"\s+", " ", " ".join(parts))


def problems_in(text: str, codes: Codes, language: str) -> list[str]:
    """The codes in `text`, each with some text around it."""
    found: list[str] = []
    with translation.override(language):
        # The convention: a code may follow its own label in brackets, "Ferdig (done)".
        for code, label in codes.labelled:
            text = text.replace(f"{label} ({code})", str(label))
    external = "|".join(sorted(codes.external))
    text = re.sub(rf"(?<=\w) \((?:{external})(?:–(?:{external}))?\)", "", text)
    text = EMAIL_OR_URL.sub(" ", FILE_NAME.sub(" ", PLACEHOLDER.sub(" ", text)))

    def report(what: str, match: re.Match[str]) -> None:
        around = text[max(0, match.start() - 40) : match.end() + 40]
        found.append(f"{what}: {match.group()!r} in …{around}…")

    for code in VISMA_STATUS:
        for match in re.finditer(rf"\b{code}\b", text):
            report("Visma status without its label", match)
    for pattern, what in ((SNAKE, "snake_case"), (CAMEL, "camelCase"), (INDEXED_PATH, "path")):
        for match in pattern.finditer(text):
            report(what, match)
    for match in DOTTED.finditer(text):
        parts = set(match.group().split("."))
        if "_" in match.group() or match.group() in codes.paths or parts & codes.paths:
            report("path", match)
    # In brackets, a code is a code even if it is a word too ("Sendt til Visma (sent)").
    for match in re.finditer(r"\(([A-Za-z0-9_.]+)\)", text):
        if match.group(1) in codes.bracketed:
            report("code in brackets without its label", match)
    words = codes.words if language == "nb" else codes.words - ENGLISH_WORDS
    for match in re.finditer(r"\b[a-z][a-z0-9]*\b", text):
        if match.group() in words:
            report("raw code", match)
    return found


# --- the crawl -------------------------------------------------------------------------------


def links_of(html: str, base: str) -> Iterable[str]:
    if not html.strip():
        return
    root = lxml.html.fromstring(html)
    for value in root.xpath("//a/@href | //*/@hx-get"):
        url = urljoin(base, str(value))
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        yield parts.path + (f"?{parts.query}" if parts.query else "")


def kind_of(url: str) -> tuple[str, ...] | None:
    """(URL name, query keys), or None for what is not crawled."""
    parts = urlsplit(url)
    if parts.path.startswith(SKIP_PREFIXES):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return ("404", parts.path)
    if DOWNLOAD_NAME.search(match.url_name or ""):
        return None
    keys = sorted({k for k, _v in parse_qsl(parts.query, keep_blank_values=True)})
    return (match.view_name, *keys)


def crawl(client: Client, codes: Codes, language: str, chosen: list[str]) -> list[str]:
    """From START and the `chosen` pages (which do not count against PER_KIND), breadth
    first."""
    failures: list[str] = []
    seen: set[str] = set()
    per_kind: Counter[tuple[str, ...]] = Counter()
    queue = [*START, *chosen]
    linked_from: dict[str, str] = {}
    pages = 0
    while queue and pages < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        kind = kind_of(url)
        if kind is None or (per_kind[kind] >= PER_KIND and url not in chosen):
            continue
        per_kind[kind] += 1
        pages += 1
        response = client.get(url, follow=True)
        if response.status_code == 403 and url in chosen:
            continue  # a page chosen for the demo's data, not one this role is linked to
        if response.status_code != 200:
            failures.append(
                f"{url}: HTTP {response.status_code} (linked from {linked_from.get(url)})"
            )
            continue
        if "attachment" in response.get("Content-Disposition", "") or not response.get(
            "Content-Type", ""
        ).startswith("text/html"):
            continue
        final = response.redirect_chain[-1][0] if response.redirect_chain else url
        html = response.content.decode()
        for problem in problems_in(visible_text(html), codes, language):
            failures.append(f"{final}: {problem}")
        for link in links_of(html, final):
            if link not in seen:
                queue.append(link)
                linked_from.setdefault(link, final)
    # Shown with -s, and with a failure: what the crawl reached.
    print(f"{language}: {pages} pages, {len(per_kind)} kinds: {sorted({k[0] for k in per_kind})}")
    return failures


def chosen_pages(m: Municipality) -> list[str]:
    """Pages the link caps could pass by: a basis of every status and kind, one with each
    validation finding and each kind of anomaly, the credit form, progress fragments."""
    bases = InvoiceBasis.objects.filter(municipality=m).order_by("pk")
    picked: dict[Any, int] = {}
    for pk, status, kind in bases.values_list("pk", "status", "kind"):
        picked.setdefault((status, kind), pk)
    open_month = bases.filter(period=PERIOD, status=BasisStatus.RECEIVED)
    for report in validate_stored(m, open_month).values():
        for issue in report.issues:
            picked.setdefault(issue.code, report.basis_id)
    for kind, pk in Anomaly.objects.filter(municipality=m, basis__isnull=False).values_list(
        "kind", "basis"
    ):
        picked.setdefault(kind, pk)
    urls = [reverse("invoices:detail", args=[pk]) for pk in dict.fromkeys(picked.values())]
    exported = bases.filter(status=BasisStatus.EXPORTED, kind=BasisKind.INVOICE).first()
    if exported is not None:
        urls.append(reverse("invoices:credit", args=[exported.pk]))
    urls += [
        reverse("exports:progress", args=[pk])
        for pk in Export.objects.filter(municipality=m).values_list("pk", flat=True)[:1]
    ]
    urls += [
        reverse("integrations:transfer_progress", args=[pk])
        for pk in Transfer.objects.filter(municipality=m).values_list("pk", flat=True)
    ]
    return urls


@pytest.fixture
def demo(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterable[Municipality]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOW_SYNTHETIC_IDS = True
    settings.VISMA_RETRY_BASE_SECONDS = 0
    settings.VISMA_RETRY_MAX_SECONDS = 0
    settings.VISMA_STATUS_SETTLE_SECONDS = 0
    monkeypatch.setattr(wakeup, "enqueue_send", lambda *a, **k: None)
    call_command("seed_demo", "--period", PERIOD, "--months", str(MONTHS), stdout=io.StringIO())
    refresh_planner_statistics()
    m = Municipality.objects.get(number="9999")
    simulator = start_simulator(port=0)
    try:
        visma = VismaSettings.objects.get(municipality=m)
        visma.base_url = simulator.url
        visma.save()
        clerk = get_user_model().objects.get(username="merkantil")
        # One unit's bases of the open month approved and sent: a transfer with its answers.
        open_month = InvoiceBasis.objects.filter(municipality=m, period=PERIOD)
        first_unit = open_month.order_by("unit__code").values_list("unit", flat=True)[0]
        invoice_basis_approve(open_month.filter(unit=first_unit), clerk)
        approved = list(open_month.filter(status=BasisStatus.APPROVED).values_list("pk", flat=True))
        test = services.transfer_start(m, basis_ids=approved[:3], actor=clerk, test=True)
        real = services.transfer_start(m, period=PERIOD, actor=clerk)
        for transfer in (test, real):
            for _round in range(50):
                delivery.transfer_process(transfer.pk)
                transfer.refresh_from_db()
                if not transfer.is_active:
                    break
            assert transfer.status == TransferStatus.DONE, transfer.stop_reason
        yield m
    finally:
        simulator.stop()


def test_no_code_in_the_visible_text_of_any_page(demo: Municipality) -> None:
    codes = collect_codes()
    chosen = chosen_pages(demo)
    started = time.monotonic()
    failures: list[str] = []
    for username in PERSONAS:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        failures += [f"[{username}] {f}" for f in crawl(client, codes, "nb", chosen)]
    english = Client()
    english.force_login(get_user_model().objects.get(username="merkantil"))
    english.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    failures += [f"[merkantil, en] {f}" for f in crawl(english, codes, "en", chosen)]
    elapsed = time.monotonic() - started
    unique = list(dict.fromkeys(failures))
    assert not unique, f"{len(unique)} problems ({elapsed:.0f} s):\n" + "\n".join(unique[:200])
