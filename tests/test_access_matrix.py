"""Promises 4–6 across the whole product: every page × persona gives the expected answer, another
municipality's objects are 404, and no page ever shows the Visma password or a full national id
where it should not.

`test_every_url_is_in_the_matrix` makes a new page without a row here fail, so the matrix cannot
silently fall behind the URLs.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from exports.models import Export
from integrations.models import Transfer, VismaSettings
from invoices.models import Anomaly, AnomalyRun, BasisStatus, InvoiceBasis, Municipality
from tests import factories

SECRET = "Hemmelig-Visma-passord-42"

A, M, S, B, ANON = "admin_a", "merkantil_a", "superbruker_a", "merkantil_b", "anonymous"
PERSONAS = (A, M, S, B, ANON)
# Two more columns, filled by the two-municipality users while kommune B is their active one:
# systemadministrator of B (AB) and lesetilgang of B (LB). The objects are kommune A's.
AB, LB = "admin_b", "lesetilgang_b"
LOGIN = 302  # anonymous users are sent to the login page

# url name → (kwargs object key or None, {persona: expected GET status}).
# A user of kommune B asking for kommune A's objects gets 404; for lists, B sees its own (empty)
# list, which `test_lists_never_show_other_tenants_data` checks.
VIEW_ALL = {A: 200, M: 200, S: 200, B: 200, AB: 200, LB: 200, ANON: LOGIN}
BILLING = {A: 403, M: 200, S: 200, B: 200, AB: 403, LB: 403, ANON: LOGIN}
ADMIN = {A: 200, M: 403, S: 403, B: 403, AB: 200, LB: 403, ANON: LOGIN}
SUPER = {A: 403, M: 403, S: 200, B: 403, AB: 403, LB: 403, ANON: LOGIN}
POST_ONLY = {A: 405, M: 405, S: 405, B: 405, AB: 405, LB: 405, ANON: LOGIN}
OBJ_VIEW_ALL = {A: 200, M: 200, S: 200, B: 404, AB: 404, LB: 404, ANON: LOGIN}
# The role is checked before the object is looked up: a role without billing gets 403 anywhere.
OBJ_BILLING = {A: 403, M: 200, S: 200, B: 404, AB: 403, LB: 403, ANON: LOGIN}

MATRIX: dict[str, tuple[str | None, dict[str, int]]] = {
    "home": (None, {A: 302, M: 302, S: 302, B: 302, AB: 302, LB: 302, ANON: LOGIN}),
    "login": (None, {A: 200, M: 200, S: 200, B: 200, AB: 200, LB: 200, ANON: 200}),
    "logout": (None, {A: 405, M: 405, S: 405, B: 405, AB: 405, LB: 405, ANON: 405}),
    # Django's set_language: a GET changes nothing and only redirects back.
    "set_language": (None, {A: 302, M: 302, S: 302, B: 302, AB: 302, LB: 302, ANON: 302}),
    "switch_municipality": (None, POST_ONLY),
    "overview": (None, VIEW_ALL),
    "invoices:list": (None, VIEW_ALL),
    "invoices:list_summary": (None, VIEW_ALL),
    "invoices:search": (None, POST_ONLY),
    "invoices:detail": ("basis", OBJ_VIEW_ALL),
    "invoices:approve": ("basis", POST_ONLY),
    "invoices:unapprove": ("basis", POST_ONLY),
    "invoices:delete": ("basis", POST_ONLY),
    # The credit form, for an exported invoice of kommune A.
    "invoices:credit": ("exported", OBJ_BILLING),
    "invoices:period_approve": (None, POST_ONLY),
    "invoices:period_unapprove": (None, POST_ONLY),
    "invoices:validation_report": (None, BILLING),
    "invoices:validation_summary": (None, BILLING),
    # Downloads answer like their pages: kommune B gets a file of its own (empty) month.
    "invoices:month_bases_csv": (None, VIEW_ALL),
    "invoices:month_lines_csv": (None, VIEW_ALL),
    "invoices:month_xlsx": (None, VIEW_ALL),
    "invoices:validation_report_csv": (None, BILLING),
    "invoices:validation_report_xlsx": (None, BILLING),
    "api_tokens:list": (None, ADMIN),
    "audit_log": (None, ADMIN),
    "api_tokens:revoke": ("token", POST_ONLY),
    "api_invoice_bases": (
        None,
        {A: 405, M: 405, S: 405, B: 405, AB: 405, LB: 405, ANON: 405},
    ),
    # Any other address under /api/: the API's own JSON 404.
    "api_not_found": (None, {A: 404, M: 404, S: 404, B: 404, AB: 404, LB: 404, ANON: 404}),
    "exports:history": (None, BILLING),
    "exports:history_csv": (None, BILLING),
    "exports:history_xlsx": (None, BILLING),
    "exports:start": (None, BILLING),
    "exports:preview": (None, BILLING),
    "exports:override": (None, SUPER),
    "exports:profile": (None, ADMIN),
    "exports:detail": ("export", OBJ_BILLING),
    "exports:progress": ("export", OBJ_BILLING),
    "exports:download": ("export", OBJ_BILLING),
    "exports:download_customers": (
        "export",
        {A: 403, M: 404, S: 404, B: 404, AB: 403, LB: 403, ANON: LOGIN},
    ),
    "integrations:settings": (None, ADMIN),
    "integrations:settings_test": (None, POST_ONLY),
    "integrations:send": (None, BILLING),
    "integrations:period_actions": (None, VIEW_ALL),
    "integrations:test_transfer": (None, SUPER),
    "integrations:transfers": (None, VIEW_ALL),
    "integrations:transfers_csv": (None, VIEW_ALL),
    "integrations:transfers_xlsx": (None, VIEW_ALL),
    "integrations:attempts_csv": ("transfer", OBJ_VIEW_ALL),
    "integrations:attempts_xlsx": ("transfer", OBJ_VIEW_ALL),
    "integrations:transfer_detail": ("transfer", OBJ_VIEW_ALL),
    "integrations:transfer_progress": ("transfer", OBJ_VIEW_ALL),
    "integrations:transfer_retry": ("transfer", POST_ONLY),
    "integrations:status_refresh": (None, POST_ONLY),
    "integrations:basis_extra": ("basis", OBJ_VIEW_ALL),
    "accounts:locked": (None, ADMIN),
    "accounts:unlock": ("member", POST_ONLY),
    "invoices:anomaly_section": (None, VIEW_ALL),
    "invoices:anomalies": (None, VIEW_ALL),
    "invoices:anomaly_compute": (None, POST_ONLY),
    "invoices:anomaly_acknowledge": ("anomaly", POST_ONLY),
    "invoices:anomaly_unacknowledge": ("anomaly", POST_ONLY),
    "invoices:payer": ("payer", OBJ_VIEW_ALL),
    "anomaly_settings": (None, ADMIN),
}

# POSTs that change things: only the named personas may; kommune B gets 404 for A's objects.
POST_RULES: dict[str, tuple[str | None, dict[str, int]]] = {
    "invoices:approve": ("basis", {A: 403, B: 404, AB: 403, LB: 403}),
    "invoices:unapprove": ("basis", {A: 403, B: 404, AB: 403, LB: 403}),
    "invoices:delete": ("basis", {A: 403, B: 404, AB: 403, LB: 403}),
    "invoices:credit": ("basis", {A: 403, B: 404, AB: 403, LB: 403}),
    "api_tokens:revoke": ("token", {M: 403, S: 403, B: 403, AB: 404, LB: 403}),
    "integrations:transfer_retry": ("transfer", {A: 403, B: 404, AB: 403, LB: 403}),
    # Kommune A's user: an administrator of B may not unlock it.
    "accounts:unlock": ("member", {M: 403, S: 403, B: 403, AB: 404, LB: 403}),
    "invoices:anomaly_acknowledge": ("anomaly", {A: 403, B: 404, AB: 403, LB: 403}),
    "invoices:anomaly_unacknowledge": ("anomaly", {A: 403, B: 404, AB: 403, LB: 403}),
    "invoices:anomaly_compute": (None, {A: 403, AB: 403, LB: 403}),
    # A form without its fields: refused by the role, or re-shown with errors (nothing stored).
    "anomaly_settings": (None, {A: 200, M: 403, S: 403, B: 403, AB: 200, LB: 403}),
}

# The users of two municipalities: which column's answers apply while each municipality is active.
# The answers must follow the role in the *active* municipality, never the user's first membership.
TWO_MUNICIPALITY_COLUMNS: dict[str, dict[str, str]] = {
    "admin_a_lese_b": {"kommune_b": LB, "kommune_a": A},
    "merkantil_a_admin_b": {"kommune_b": AB, "kommune_a": M},
}


def _named_urls() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.app_name == "admin":
                    continue  # the operators' Django admin has its own staff check
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, ns)
            elif isinstance(p, URLPattern) and p.name:
                names.add(namespace + p.name)

    walk(get_resolver().url_patterns, "")
    return names


@pytest.fixture
def world(personas: dict[str, Any], kommune_a: Municipality, settings: Any, tmp_path: Any) -> dict:
    settings.MEDIA_ROOT = str(tmp_path)
    from exports.run import export_run
    from exports.services import export_create
    from invoices.services import api_token_create

    payer = factories.party(kommune_a, factories.DNR, name="Áile Čoavdda")
    basis = factories.basis(kommune_a, payer=payer, status=BasisStatus.APPROVED)
    exported = factories.basis(
        kommune_a, payer=payer, status=BasisStatus.APPROVED, lines=[{"dimensions": {}}]
    )
    export = export_run(
        export_create(
            kommune_a,
            period="2026-10",
            fmt="visma",
            basis_ids=[exported.pk],
            actor=personas[M],
            enqueue=False,
        ).pk
    )
    assert export.status == "done", export.findings
    token, _ = api_token_create(kommune_a, "Fagsystem", personas[A])
    visma = VismaSettings(
        municipality=kommune_a,
        selskap="1",
        base_url="http://127.0.0.1:9/fakturering_ws/",
        username="demo",
        enabled=True,
    )
    visma.set_password(SECRET)
    visma.save()
    transfer = Transfer.objects.create(
        municipality=kommune_a, created_by=personas[M], period="2026-10"
    )
    anomaly = Anomaly.objects.create(
        municipality=kommune_a, period="2026-10", kind="zero_amount", subject_key="m", payer=payer
    )
    AnomalyRun.objects.create(municipality=kommune_a, period="2026-10", computed_at=timezone.now())
    return {
        "basis": basis,
        "anomaly": anomaly,
        "payer": payer,
        "exported": exported,
        "export": Export.objects.get(pk=export.pk),
        "token": token,
        "transfer": transfer,
        "member": personas[M],
        "personas": personas,
    }


FULL_ID_SHOWN = {
    "invoices:detail",
    "exports:download",
    "invoices:month_bases_csv",
    "invoices:month_xlsx",
    "integrations:attempts_csv",
    "integrations:attempts_xlsx",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx_text(content: bytes) -> str:
    """Every cell of a workbook as text: the file is zipped, so its bytes would hide an id."""
    import io

    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(
        str(value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    )


def _client(user: Any) -> Client:
    c = Client()
    if user is not None:
        c.force_login(user)
    return c


def _url(name: str, obj_key: str | None, world: dict) -> str:
    if obj_key is None:
        return reverse(name)
    return reverse(name, kwargs={"pk": world[obj_key].pk})


def test_every_url_is_in_the_matrix() -> None:
    assert _named_urls() == set(MATRIX), "add new pages to MATRIX with their expected answers"


@pytest.mark.django_db
def test_get_matrix(world: dict) -> None:
    failures = []
    for name, (obj_key, expected) in MATRIX.items():
        url = _url(name, obj_key, world) + "?period=2026-10"
        for persona in PERSONAS:
            response = _client(world["personas"][persona]).get(url)
            if response.status_code != expected[persona]:
                failures.append(
                    f"{name} as {persona}: {response.status_code} != {expected[persona]}"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
def test_post_rules(world: dict) -> None:
    failures = []
    for name, (obj_key, expected) in POST_RULES.items():
        url = _url(name, obj_key, world)
        for persona, status in expected.items():
            if persona not in PERSONAS:
                continue  # a column of the two-municipality users, tested below
            response = _client(world["personas"][persona]).post(url, {"reason": "test"})
            if response.status_code != status:
                failures.append(f"POST {name} as {persona}: {response.status_code} != {status}")
    assert not failures, "\n".join(failures)
    # Nothing of kommune A changed by the refused requests.
    assert not Anomaly.objects.get(pk=world["anomaly"].pk).acknowledged
    basis = InvoiceBasis.objects.get(pk=world["basis"].pk)
    assert basis.status == BasisStatus.APPROVED
    assert not InvoiceBasis.objects.filter(credits=basis).exists()


def _switch(client: Client, municipality: Municipality) -> None:
    response = client.post(reverse("switch_municipality"), {"municipality": municipality.pk})
    assert response.status_code == 302 and response["Location"] == reverse("home")


@pytest.mark.django_db
@pytest.mark.parametrize("username", sorted(TWO_MUNICIPALITY_COLUMNS))
def test_get_matrix_follows_the_active_municipality(
    world: dict,
    two_municipality_users: dict[str, Any],
    kommune_a: Municipality,
    kommune_b: Municipality,
    username: str,
) -> None:
    """The same user, switched to B and then back to A, answers like the column of its role in the
    active municipality (B first: a switch that did nothing would leave the user in A)."""
    tenants = {"kommune_a": kommune_a, "kommune_b": kommune_b}
    client = _client(two_municipality_users[username])
    failures = []
    for tenant, column in TWO_MUNICIPALITY_COLUMNS[username].items():
        _switch(client, tenants[tenant])
        for name, (obj_key, expected) in MATRIX.items():
            url = _url(name, obj_key, world) + "?period=2026-10"
            status = client.get(url).status_code
            if status != expected[column]:
                failures.append(f"{name} as {username} in {tenant}: {status} != {expected[column]}")
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
@pytest.mark.parametrize("username", sorted(TWO_MUNICIPALITY_COLUMNS))
def test_post_rules_follow_the_active_municipality(
    world: dict, two_municipality_users: dict[str, Any], kommune_b: Municipality, username: str
) -> None:
    """Active in kommune B, neither user may change kommune A's objects, whatever its role in A."""
    client = _client(two_municipality_users[username])
    _switch(client, kommune_b)
    column = TWO_MUNICIPALITY_COLUMNS[username]["kommune_b"]
    failures = []
    for name, (obj_key, expected) in POST_RULES.items():
        status = client.post(_url(name, obj_key, world), {"reason": "test"}).status_code
        if status != expected[column]:
            failures.append(f"POST {name} as {username} in B: {status} != {expected[column]}")
    assert not failures, "\n".join(failures)
    assert InvoiceBasis.objects.get(pk=world["basis"].pk).status == BasisStatus.APPROVED
    assert not InvoiceBasis.objects.filter(credits=world["basis"]).exists()
    assert not Anomaly.objects.get(pk=world["anomaly"].pk).acknowledged


@pytest.mark.django_db
def test_lists_never_show_other_tenants_data(world: dict) -> None:
    client = _client(world["personas"][B])
    basis = world["basis"]
    for name in (
        "overview",
        "invoices:list",
        "invoices:list_summary",
        "exports:history",
        "integrations:transfers",
        "invoices:anomalies",
    ):
        body = client.get(reverse(name) + "?period=2026-10").content.decode()
        assert basis.source_reference not in body, name
        assert "Áile" not in body, name
        assert world["export"].file_name not in body, name


@pytest.mark.django_db
def test_no_page_shows_the_password_or_a_full_national_id(world: dict) -> None:
    """Render every GET page as every persona: the Visma password never appears, and the D-number
    appears in full only on the basis detail page, for billing staff."""
    full_id = factories.DNR
    for name, (obj_key, _expected) in MATRIX.items():
        url = _url(name, obj_key, world) + "?period=2026-10"
        for persona in PERSONAS:
            response = _client(world["personas"][persona]).get(url)
            if response.get("Content-Type") == XLSX:
                body = _xlsx_text(b"".join(response.streaming_content))  # type: ignore[attr-defined]
            elif getattr(response, "streaming", False):
                body = b"".join(response.streaming_content).decode("latin-1")  # type: ignore[attr-defined]
            else:
                body = response.content.decode("utf-8", "replace")
            assert SECRET not in body, f"{name} as {persona}"
            if full_id in body:
                # Export files carry the customer number by design; pages never do, except detail;
                # the month's downloads show it to the roles that see it on the detail page.
                allowed = name in FULL_ID_SHOWN and persona in (M, S)
                assert allowed, f"full national id shown on {name} as {persona}"


@pytest.mark.django_db
def test_password_is_unreadable_in_the_database(world: dict) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT password_encrypted FROM integrations_vismasettings")
        (stored,) = cur.fetchone()
    assert stored and SECRET not in stored
    assert VismaSettings.objects.get().get_password() == SECRET
