"""Pages: who may do what (promises 4–5), nothing secret rendered (promise 6), and the flows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations import services
from integrations import status as visma_status
from integrations.models import Transfer
from invoices.models import BasisStatus, InvoiceBasis, TransferRoute
from tests import factories
from tests.integrations.conftest import DEMO_PASSWORD
from tests.integrations.helpers import bulk_bases, run_transfer

PERSONAS = ["admin_a", "merkantil_a", "superbruker_a", "merkantil_b", "anonymous"]


@pytest.fixture
def world(personas, kommune_a, visma_a, simulator) -> dict[str, Any]:
    basis = factories.basis(kommune_a)
    transfer = run_transfer(
        services.transfer_start(kommune_a, period="2026-10", actor=personas["merkantil_a"])
    )
    return {"basis": basis, "transfer": transfer, "personas": personas}


def _client(personas: dict[str, Any], who: str) -> Client:
    c = Client()
    if personas[who] is not None:
        c.force_login(personas[who])
    return c


# (name, method, kwargs-key, expected per persona in PERSONAS order)
MATRIX = [
    ("settings", "get", None, [200, 403, 403, 403, 302]),
    ("settings_test", "post", None, [302, 403, 403, 403, 302]),
    ("send", "get", None, [403, 200, 200, 200, 302]),
    ("period_actions", "get", None, [200, 200, 200, 200, 302]),
    ("test_transfer", "get", None, [403, 403, 200, 403, 302]),
    ("transfers", "get", None, [200, 200, 200, 200, 302]),
    ("transfer_detail", "get", "transfer", [200, 200, 200, 404, 302]),
    ("transfer_progress", "get", "transfer", [200, 200, 200, 404, 302]),
    ("transfer_retry", "post", "transfer", [403, 302, 302, 404, 302]),
    ("status_refresh", "post", None, [403, 302, 302, 302, 302]),
    ("basis_extra", "get", "basis", [200, 200, 200, 404, 302]),
]


@pytest.mark.parametrize(("name", "method", "obj", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_permission_matrix(world, name, method, obj, expected, django_capture_on_commit_callbacks):
    args = [world[obj].pk] if obj else []
    url = reverse(f"integrations:{name}", args=args)
    got = []
    for who in PERSONAS:
        with django_capture_on_commit_callbacks(execute=False):
            response = getattr(_client(world["personas"], who), method)(url + "?period=2026-10")
        got.append(response.status_code)
    assert got == expected


def test_only_admin_changes_settings(world):
    for who in ("merkantil_a", "superbruker_a", "merkantil_b"):
        response = _client(world["personas"], who).post(
            reverse("integrations:settings"),
            {"selskap": "9", "base_url": "https://x.no/fakturering_ws/", "username": "u"},
        )
        assert response.status_code == 403
    from integrations.models import VismaSettings

    assert VismaSettings.objects.get().selskap == "1"


def test_no_page_shows_the_password_or_a_full_national_id(world):
    personas = world["personas"]
    urls = [
        reverse("integrations:settings"),
        reverse("integrations:transfers"),
        reverse("integrations:transfer_detail", args=[world["transfer"].pk]),
        reverse("integrations:transfer_progress", args=[world["transfer"].pk]),
        reverse("integrations:basis_extra", args=[world["basis"].pk]),
        reverse("integrations:send") + "?period=2026-10",
        reverse("integrations:test_transfer") + "?period=2026-10",
        reverse("integrations:period_actions") + "?period=2026-10",
    ]
    seen = 0
    for who in PERSONAS:
        c = _client(personas, who)
        for url in urls:
            response = c.get(url)
            body = response.content.decode()
            assert DEMO_PASSWORD not in body, (who, url)
            assert factories.FNR_CLASSIC not in body, (who, url)
            seen += response.status_code == 200
    assert seen >= 20


def test_send_button_shows_count_and_total_only_when_enabled(
    client, kommune_a, merkantil_a, visma_a
):
    bulk_bases(kommune_a, 3)
    client.force_login(merkantil_a)
    url = reverse("integrations:period_actions") + "?period=2026-10"
    # The municipality uses import files: the list offers no send next to the file button.
    assert "Send til Visma" not in client.get(url).content.decode()
    factories.accounting(kommune_a, transfer_route=TransferRoute.VISMA_API)
    body = client.get(url).content.decode()
    assert "Send til Visma (3 grunnlag, 2 580,00 kr)" in body.replace("\xa0", " ")
    visma_a.enabled = False
    visma_a.save()
    assert "Send til Visma" not in client.get(url).content.decode()


def test_send_flow_through_the_pages(
    client, kommune_a, merkantil_a, visma_a, simulator, django_capture_on_commit_callbacks, wakeups
):
    ids = bulk_bases(kommune_a, 3)
    client.force_login(merkantil_a)
    confirm = client.get(reverse("integrations:send") + "?period=2026-10")
    assert "Bekreft og send" in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("integrations:send"), {"period": "2026-10"})
    transfer = Transfer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:transfer_detail", args=[transfer.pk])
    assert wakeups == [(transfer.pk, 1, None)]  # one worker woken after commit
    assert transfer.created_by == merkantil_a
    assert set(InvoiceBasis.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        BasisStatus.SENDING
    }
    progress = client.get(reverse("integrations:transfer_progress", args=[transfer.pk]))
    assert b'hx-trigger="every 2s"' in progress.content
    # The rows come along with the poll, each still waiting.
    assert progress.content.split(b'id="transfer-rows"', 1)[1].count(b"status-pending") == 3

    run_transfer(transfer)
    # The last poll brings the rows out of band: they agree with the summary without a reload.
    last = client.get(reverse("integrations:transfer_progress", args=[transfer.pk])).content
    assert b'id="transfer-rows" hx-swap-oob="true"' in last
    assert b"every 2s" not in last
    rows = last.split(b'id="transfer-rows"', 1)[1]
    assert rows.count(b"status-sent") == 3 and b"status-pending" not in rows
    page = client.get(reverse("integrations:transfer_detail", args=[transfer.pk])).content.decode()
    assert "Mottatt av Visma" in page and "MOTTATT" in page
    assert "every 2s" not in page  # no more polling once finished

    # A second click finds nothing left to send.
    response = client.post(reverse("integrations:send"), {"period": "2026-10"}, follow=True)
    assert "ingen godkjente grunnlag" in response.content.decode()
    assert Transfer.objects.count() == 1


def test_test_transfer_page(client, kommune_a, superbruker_a, visma_a, simulator):
    ids = bulk_bases(kommune_a, 3)
    client.force_login(superbruker_a)
    page = client.get(reverse("integrations:test_transfer") + "?period=2026-10").content.decode()
    assert "BULK-000000" in page
    response = client.post(
        reverse("integrations:test_transfer") + "?period=2026-10", {"bases": ids[:2]}
    )
    transfer = Transfer.objects.get()
    assert response.status_code == 302 and transfer.is_test
    run_transfer(transfer)
    detail = client.get(reverse("integrations:transfer_detail", args=[transfer.pk]))
    body = detail.content.decode()
    assert "TEST" in body and "Godkjent i test" in body
    assert set(InvoiceBasis.objects.values_list("status", flat=True)) == {BasisStatus.APPROVED}
    history = client.get(reverse("integrations:transfers")).content.decode()
    assert "badge-test" in history


def test_test_transfer_with_nothing_chosen_says_what_to_do(
    client, kommune_a, superbruker_a, visma_a
):
    bulk_bases(kommune_a, 2)
    client.force_login(superbruker_a)
    response = client.post(reverse("integrations:test_transfer") + "?period=2026-10", {})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Velg minst ett grunnlag å teste" in body
    assert "Feltet er påkrevet" not in body and "This field is required" not in body
    assert not Transfer.objects.exists()


def test_the_poll_keeps_the_chosen_rows(client, kommune_a, merkantil_a, visma_a, simulator):
    bulk_bases(kommune_a, 2)
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    client.force_login(merkantil_a)
    page = client.get(
        reverse("integrations:transfer_detail", args=[transfer.pk]) + "?state=pending"
    ).content.decode()
    poll = reverse("integrations:transfer_progress", args=[transfer.pk]) + "?state=pending"
    assert f'hx-get="{poll}"' in page


def test_test_transfer_refuses_more_than_20(client, kommune_a, superbruker_a, visma_a):
    ids = bulk_bases(kommune_a, 21)
    client.force_login(superbruker_a)
    response = client.post(
        reverse("integrations:test_transfer") + "?period=2026-10", {"bases": ids}
    )
    assert response.status_code == 200
    assert "høyst 20" in response.content.decode()
    assert not Transfer.objects.exists()


def test_basis_page_shows_visma_details(client, kommune_a, merkantil_a, visma_a, simulator):
    basis = factories.basis(kommune_a)
    run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    simulator.invoice("1")
    visma_status.status_refresh(kommune_a)
    client.force_login(merkantil_a)
    body = client.get(reverse("integrations:basis_extra", args=[basis.pk])).content.decode()
    from integrations.models import BasisVismaStatus

    status = BasisVismaStatus.objects.get(basis=basis)
    assert status.fakturanummer in body and status.kid in body and "Forfallsdato" in body
    assert status.grunnlag_id in body
    # The basis page itself loads the fragment.
    detail = client.get(reverse("invoices:detail", args=[basis.pk])).content.decode()
    assert reverse("integrations:basis_extra", args=[basis.pk]) in detail


def test_stopped_run_is_shown_to_the_administrator(
    client, kommune_a, admin_a, merkantil_a, visma_a
):
    from tests.integrations.conftest import configure

    factories.basis(kommune_a)
    configure(kommune_a, visma_a.base_url, password="galt")
    run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    client.force_login(admin_a)
    body = client.get(reverse("integrations:settings")).content.decode()
    assert "ble stoppet" in body and "passord" in body


def test_operator_admin_is_read_only_and_hides_the_password(client, kommune_a, visma_a):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("drift", password="drift-pass-123")
    client.force_login(operator)
    page = client.get(
        reverse("admin:integrations_vismasettings_change", args=[visma_a.pk])
    ).content.decode()
    assert visma_a.selskap in page
    assert DEMO_PASSWORD not in page and visma_a.password_encrypted not in page
    assert client.get(reverse("admin:integrations_vismasettings_add")).status_code == 403


def test_the_rows_are_paged_by_the_progress_counts_without_counting_again(
    client, kommune_a, merkantil_a, visma_a
):
    """150 pending attempts: two pages of all, two of *pending*, none of *sent*; the poll counts
    the attempts once (per state), not a second time for the pages."""
    bulk_bases(kommune_a, 150)
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    client.force_login(merkantil_a)
    detail = reverse("integrations:transfer_detail", args=[transfer.pk])
    poll = reverse("integrations:transfer_progress", args=[transfer.pk])

    def rows(url: str) -> tuple[int, str]:
        body = client.get(url).content.decode()
        table = body[body.index('id="transfer-rows"') :]
        return table.count("<tr><td><a href="), table

    for url in (detail, poll):
        n, table = rows(url)
        assert n == 100 and "Side 1 av 2" in table
        n, table = rows(url + "?state=pending&page=2")
        assert n == 50 and "Side 2 av 2" in table
        n, table = rows(url + "?state=sent")
        assert n == 0 and "Ingen grunnlag i dette utvalget." in table and "Side" not in table
    with CaptureQueriesContext(connection) as queries:
        client.get(poll)
    counting = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counting) == 1, counting  # the per-state counts of the progress bar
