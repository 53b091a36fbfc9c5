"""Every page, as every persona, with hostile values in every parameter it reads (issue 11).

On PostgreSQL, which refuses NUL in a text value with an error, so that a parameter that reaches
the database unparsed shows as a 500. For each URL pattern of the resolver (the operators' admin
aside) and each persona of the conftest (anonymous too):

1. *Discovery*: GET and POST without parameters, then again with ordinary values, while
   `QueryDict` records which keys the view reads (`request.GET.get("unit")`, a form's fields, a
   checkbox list). No hand list of parameters; the ordinary values come from the forms of the
   pages themselves (what a browser would send), and a few defaults below. A `<int:pk>` slot gets
   the persona's own object of the model the view looks up, found by recording `QuerySet.get`.
2. *Fuzzing*: each hostile value in all read keys at once, and in each key alone with the others
   ordinary (so that a check on one parameter cannot hide the next); an id of the other
   municipality, 0 and a 30-digit number in every pk slot and in every id-like key. POSTs carry
   the values in the query string and in the body.

Asserted: no answer is a 5xx, and nothing of the other municipality changes (every row of every
table that belongs to it, compared after each URL × persona). Each URL × persona runs inside a
savepoint that is rolled back, so every one starts from the same world.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.core.handlers.wsgi import WSGIRequest
from django.db import models, transaction
from django.db.models.query import QuerySet
from django.http import QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.functional import cached_property

from exports.models import Export
from integrations.models import Transfer, TransferAttempt, VismaSettings
from invoices.models import ApiToken, BasisStatus, InvoiceBasis, Municipality, Role
from tests import factories
from tests.page_forms import form_values

pytestmark = [pytest.mark.integration]

PERSONAS = ("admin_a", "merkantil_a", "superbruker_a", "merkantil_b", "anonymous")
APPS = ("invoices", "exports", "integrations")

# Every hostile value goes into all keys a view reads at once; the first six also into each key
# alone, with the others ordinary; numbers that are no id also into each id-like key alone.
HOSTILE = ["\x00", "²", "9" * 30, "x" * 10_000, "\u202e", "../", "a\x00b", "", "-1", "0"]
PER_KEY = HOSTILE[:6]
NOT_AN_ID = ["-1", "0"]
# Values a browser would send where no page of the crawl shows one.
ORDINARY = {"period": "2026-10", "unit": "HJT-NORD", "service": "PB", "page": "1", "side": "1"}


# --- which keys a view reads ----------------------------------------------------------------


Keys = set[tuple[str, str]]  # (GET or POST, key)


class _Recorder:
    keys: Keys | None = None
    models: list[type[models.Model]] = []


@contextmanager
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recorder]:
    """Every key read from `request.GET` or `request.POST`, and the model of every
    `.get(pk=…)`."""
    recorder = _Recorder()

    def wrap(name: str) -> Callable[..., Any]:
        original = getattr(QueryDict, name)

        def reading(self: QueryDict, key: Any, *args: Any, **kwargs: Any) -> Any:
            source = getattr(self, "_crawler_source", None)
            if recorder.keys is not None and source and isinstance(key, str):
                recorder.keys.add((source, key))
            return original(self, key, *args, **kwargs)

        return reading

    for name in ("get", "getlist", "__getitem__", "__contains__"):
        monkeypatch.setattr(QueryDict, name, wrap(name))

    def tagged(data: QueryDict, source: str) -> QueryDict:
        data._crawler_source = source  # type: ignore[attr-defined]
        return data

    get_property = WSGIRequest.__dict__["GET"]
    query = cached_property(lambda request: tagged(get_property.func(request), "GET"))
    query.__set_name__(WSGIRequest, "GET")
    monkeypatch.setattr(WSGIRequest, "GET", query)
    post_property = WSGIRequest.__dict__["POST"]
    monkeypatch.setattr(
        WSGIRequest,
        "POST",
        property(lambda request: tagged(post_property.fget(request), "POST"), post_property.fset),
    )
    original_get = QuerySet.get

    def get(self: QuerySet[Any], *args: Any, **kwargs: Any) -> Any:
        if "pk" in kwargs:
            recorder.models.append(self.model)
        return original_get(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "get", get)
    yield recorder


# --- the world: two municipalities with something of everything ------------------------------


def _tenant(m: Municipality, staff: dict[str, Any]) -> dict[type[models.Model], int]:
    """Something of everything, and the ids of one object of each kind a URL takes."""
    from exports.run import export_run
    from exports.services import export_create
    from invoices.services import api_token_create

    factories.service(m, "PB")
    payer = factories.party(m, factories.DNR, name="Áile Čoavdda")
    approved = factories.basis(m, payer=payer, status=BasisStatus.APPROVED)
    factories.basis(m, payer=payer, status=BasisStatus.RECEIVED)
    exported = factories.basis(
        m, payer=payer, status=BasisStatus.APPROVED, lines=[{"dimensions": {}}]
    )
    export = export_run(
        export_create(
            m, period="2026-10", fmt="visma", basis_ids=[exported.pk], actor=staff["billing"],
            enqueue=False,
        ).pk
    )  # fmt: skip
    assert export.status == "done", export.findings
    token, _plaintext = api_token_create(m, "Fagsystem", staff["admin"])
    visma = VismaSettings(
        municipality=m, selskap="1", base_url="http://127.0.0.1:9/fakturering_ws/",
        username="demo", enabled=True,
    )  # fmt: skip
    visma.set_password("Hemmelig-42")
    visma.save()
    transfer = Transfer.objects.create(
        municipality=m, created_by=staff["billing"], period="2026-10", basis_count=1
    )
    TransferAttempt.objects.create(
        transfer=transfer, basis=approved, reference=f"{m.number}-{approved.pk}", state="failed",
        retryable=True,
    )  # fmt: skip
    return {
        InvoiceBasis: approved.pk,
        Export: export.pk,
        Transfer: transfer.pk,
        ApiToken: token.pk,
        Municipality: m.pk,
    }


def _owned_by(model: type[models.Model]) -> str | None:
    """The lookup from `model` to its municipality (`municipality`, `basis__municipality` …)."""
    if model is Municipality:
        return "pk"
    fields = {
        f.name: f
        for f in model._meta.get_fields()
        if f.is_relation and (f.many_to_one or f.one_to_one) and f.concrete
    }
    if "municipality" in fields and fields["municipality"].related_model is Municipality:
        return "municipality"
    for name, field in fields.items():
        related: Any = field.related_model
        if "municipality" in {f.name for f in related._meta.concrete_fields}:
            return f"{name}__municipality"
    return None


def _snapshot(municipality: Municipality) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the product that belongs to `municipality`."""
    rows = {}
    for app in APPS:
        for model in apps.get_app_config(app).get_models():
            lookup = _owned_by(model)
            assert lookup is not None, f"{model.__name__}: which municipality owns its rows?"
            columns = [f.attname for f in model._meta.concrete_fields]
            rows[model._meta.label] = list(
                model._default_manager.filter(**{lookup: municipality.pk})
                .order_by("pk")
                .values_list(*columns)
            )
    return rows


# --- the crawl -------------------------------------------------------------------------------


def _patterns() -> list[str]:
    """Every route of the resolver, with `{pk}` where an int is expected (admin aside)."""
    routes: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            text = str(p.pattern).lstrip("^").rstrip("$")
            if isinstance(p, URLResolver):
                if p.app_name != "admin":
                    walk(p.url_patterns, prefix + text)
            elif isinstance(p, URLPattern):
                routes.append(prefix + text)

    walk(get_resolver().url_patterns, "")
    for route in routes:
        assert re.fullmatch(r"[^<>()\[\]?*+\\]*(<int:pk>[^<>()\[\]?*+\\]*)?", route), (
            f"{route}: teach the crawler this kind of parameter"
        )
    return ["/" + route.replace("<int:pk>", "{pk}") for route in routes]


class Crawl:
    def __init__(self, world: dict[str, Any], recorder: _Recorder) -> None:
        self.world = world
        self.recorder = recorder
        self.ordinary: dict[str, str] = dict(ORDINARY)
        self.failures: list[str] = []
        self.requests = 0
        self.persona = ""

    def send(
        self, client: Client, method: str, url: str, data: dict[tuple[str, str], str]
    ) -> tuple[int, Keys, bytes]:
        """One request in a savepoint of its own: a failed statement must not abort the rest.
        `data` maps (GET or POST, key) to a value: the query string or the body."""
        self.recorder.keys = set()
        self.recorder.models = []
        query = {k: v for (source, k), v in data.items() if source == "GET"}
        body = {k: v for (source, k), v in data.items() if source == "POST"}
        target = f"{url}?{urlencode(query)}" if query else url
        sid = transaction.savepoint()
        try:
            response = getattr(client, method)(target, body)
        finally:
            keys, self.recorder.keys = self.recorder.keys, None
        self.requests += 1
        status = response.status_code
        if status >= 500:
            transaction.savepoint_rollback(sid)
            transaction.set_rollback(False)
            exc = getattr(response, "exc_info", None)
            shown = {f"{s}:{k}": (v[:20] + "…" if len(v) > 20 else v) for (s, k), v in data.items()}
            what = f"{exc[1]!r}" if exc else ""
            self.failures.append(
                f"{method.upper()} {url} {shown!r} as {self.persona}: {status} {what}"
            )
        else:
            transaction.savepoint_commit(sid)
        # A file answer is read to its end, which closes it (the test client's wrapper does so
        # without the signal that would close the database connection mid-transaction).
        if getattr(response, "streaming", False):
            content = b"".join(response.streaming_content)
        else:
            content = response.content
        return status, {(s, k) for s, k in keys if k != "csrfmiddlewaretoken"}, content

    def client(self, persona: str) -> Client:
        client = Client(raise_request_exception=False)
        user = self.world["users"][persona]
        if user is not None:
            client.force_login(user)
        return client

    def model_for(self, client: Client, template: str, mine: dict[Any, int]) -> Any:
        """The model the view looks up by pk (a basis where the persona never gets that far)."""
        for method in ("get", "post"):
            self.send(client, method, template.format(pk=mine[InvoiceBasis]), {})
            for model in self.recorder.models:
                if model in mine:
                    return model
        return InvoiceBasis

    def discover(self, client: Client, method: str, url: str) -> Keys:
        _status, keys, body = self.send(client, method, url, {})
        if method == "get" and body:
            for key, value in form_values(body.decode("utf-8", "replace")).items():
                self.ordinary.setdefault(key, value)
        # Again with ordinary values: some keys are read only once others are valid.
        if method == "get":
            keys = {(s, k) for s, k in keys if s == "GET"}  # a GET has no body to fill
        if keys:
            _status, more, _body = self.send(client, method, url, self.usual(keys))
            keys |= more if method == "post" else {(s, k) for s, k in more if s == "GET"}
        return keys

    def usual(self, keys: Keys) -> dict[tuple[str, str], str]:
        return {(s, k): self.ordinary.get(k, "") for s, k in sorted(keys)}

    def fuzz(self, client: Client, method: str, url: str, keys: Keys, ids: list[str]) -> None:
        sends = [dict.fromkeys(keys, value) for value in HOSTILE + ids]
        for source, key in sorted(keys):
            # Id-like: a number on the page's own form, or named so where no form shows one.
            id_like = self.ordinary.get(key, "").isdigit() or key in ("grunnlag", "references")
            for value in PER_KEY + (ids + NOT_AN_ID if id_like else []):
                sends.append({**self.usual(keys), (source, key): value})
        seen: set[tuple[tuple[tuple[str, str], str], ...]] = set()
        for data in sends:
            fingerprint = tuple(sorted(data.items()))
            if fingerprint not in seen:
                seen.add(fingerprint)
                self.send(client, method, url, data)


@pytest.fixture
def world(
    personas: dict[str, Any],
    kommune_a: Municipality,
    kommune_b: Municipality,
    settings: Any,
    tmp_path: Any,
) -> dict[str, Any]:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin_b = factories.user("admin_b", kommune_b, Role.SYSTEMADMINISTRATOR)
    return {
        "users": personas,
        "kommune_a": kommune_a,
        "kommune_b": kommune_b,
        "a": _tenant(kommune_a, {"admin": personas["admin_a"], "billing": personas["merkantil_a"]}),
        "b": _tenant(kommune_b, {"admin": admin_b, "billing": personas["merkantil_b"]}),
    }


def test_no_hostile_value_gives_a_5xx_or_touches_the_other_municipality(
    requires_postgres: None, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    templates = _patterns()
    assert len(templates) >= 40
    baseline = {"a": _snapshot(world["kommune_a"]), "b": _snapshot(world["kommune_b"])}
    changed: list[str] = []
    with recording(monkeypatch) as recorder:
        crawl = Crawl(world, recorder)
        for persona in PERSONAS:
            home = "b" if persona.endswith("_b") else "a"
            other = "a" if home == "b" else "b"
            # Anonymous belongs nowhere: neither municipality may change.
            watched = ["a", "b"] if persona == "anonymous" else [other]
            mine, theirs = world[home], world[other]
            ids = [str(pk) for pk in theirs.values()]
            crawl.persona = persona
            for template in templates:
                sid = transaction.savepoint()
                client = crawl.client(persona)
                url = template
                if "{pk}" in template:
                    model = crawl.model_for(client, template, mine)
                    url = template.format(pk=mine[model])
                    for pk in (theirs[model], 0, int("9" * 30)):
                        for method in ("get", "post"):
                            crawl.send(client, method, template.format(pk=pk), {})
                read = {method: crawl.discover(client, method, url) for method in ("get", "post")}
                # A POST that reads only what the GET reads, from the query string, takes the
                # same path: fuzzed once, as a GET.
                if read["post"] == read["get"]:
                    del read["post"]
                for method, keys in read.items():
                    if keys:
                        crawl.fuzz(client, method, url, keys, ids)
                for tenant in watched:
                    now = _snapshot(world[f"kommune_{tenant}"])
                    tables = sorted(t for t in now if now[t] != baseline[tenant][t])
                    if tables:
                        changed.append(
                            f"{template} as {persona} changed kommune {tenant.upper()}: {tables}"
                        )
                transaction.savepoint_rollback(sid)
    elapsed = time.monotonic() - started
    print(f"\ncrawler: {crawl.requests} requests in {elapsed:.1f} s")
    problems = (
        [f"{len(crawl.failures)} answers were 5xx:", *crawl.failures[:40]] if crawl.failures else []
    )
    problems += changed
    assert not problems, "\n".join(problems)
