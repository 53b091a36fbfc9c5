"""The warnings in the pages: the Kontrollrapport's section, the page of their own, the button
that computes a month that never was, acknowledging, a payer's history."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from invoices import anomalies
from invoices.models import (
    Anomaly,
    AnomalyKind,
    AnomalyRun,
    AuditEvent,
    BasisStatus,
    Municipality,
    Role,
)
from tests import factories
from tests.anomalies.helpers import LAST3, PERIOD, bill, filler, kr, payer

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _section(client: Client, **query: str) -> str:
    response = client.get(reverse("invoices:anomaly_section"), {"period": PERIOD, **query})
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def month(kommune_a: Municipality) -> dict[str, Any]:
    """A payer far off in HJT-NORD, a zero basis in KOS."""
    who = payer(kommune_a, 0, name="Kari Nordmann")
    filler(kommune_a, [*LAST3, PERIOD])
    for period in LAST3:
        bill(kommune_a, period, who, kr(1000))
    far = bill(kommune_a, PERIOD, who, kr(5000), status=BasisStatus.RECEIVED)
    kos = factories.unit(kommune_a, "KOS", "Korttidsavdelingen")
    other = payer(kommune_a, 2, name="Ola Nordmann")
    for period in LAST3:
        bill(kommune_a, period, other, kr(300), unit_obj=kos)
    zero = bill(kommune_a, PERIOD, other, 0, unit_obj=kos, status=BasisStatus.RECEIVED)
    bill(kommune_a, PERIOD, other, kr(300), unit_obj=kos, status=BasisStatus.RECEIVED)
    return {"payer": who, "far": far, "zero": zero, "kos": kos}


def test_the_report_loads_the_section_without_computing(
    kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any]
) -> None:
    client = _client(merkantil_a)
    report = client.get(reverse("invoices:validation_report"), {"period": PERIOD})
    body = report.content.decode()
    assert 'hx-get="/fakturagrunnlag/kontroll/avvik/?period=2026-10&amp;place=report"' in body
    section = _section(client, place="report")
    assert "Avviksvarslene for 2026-10 er ikke beregnet." in section
    assert 'data-testid="anomalies-compute"' in section
    # Reading never computes, and never writes.
    assert not AnomalyRun.objects.exists() and not Anomaly.objects.exists()


def test_the_button_computes_and_the_section_shows_the_warnings(
    kommune_a: Municipality,
    merkantil_a: Any,
    month: dict[str, Any],
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = _client(merkantil_a)
    back = reverse("invoices:validation_report") + "?period=2026-10#anomalies"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("invoices:anomaly_compute"), {"period": PERIOD, "next": back}
        )
    assert response.status_code == 302 and response["Location"] == back
    section = _section(client, place="report")
    assert "Betaler langt fra sitt vanlige beløp" in section and 'title="payer_far_off"' in section
    assert "Grunnlag på 0 kr" in section and 'title="zero_amount"' in section
    assert "Kari Nordmann" in section and month["far"].source_reference in section
    assert reverse("invoices:payer", args=[month["payer"].pk]) in section
    assert reverse("invoices:detail", args=[month["zero"].pk]) in section
    assert "5\u00a0000,00\u00a0kr" in section  # this month, beside the median
    assert "15899010059" not in section  # the payer's id masked, as in the lists


def test_the_unit_filter_shows_that_units_warnings(
    kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any]
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    client = _client(merkantil_a)
    kos = _section(client, unit="KOS")
    assert 'data-kind="zero_amount"' in kos and 'data-kind="payer_far_off"' not in kos
    nord = _section(client, unit="HJT-NORD")
    assert 'data-kind="payer_far_off"' in nord and 'data-kind="zero_amount"' not in nord
    unknown = _section(client, unit="FINNES-IKKE")
    assert "finnes ikke i kommunen" in unknown and 'data-kind="' not in unknown


def test_acknowledge_and_undo_from_the_page(
    kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any]
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    finding = Anomaly.objects.get(kind=AnomalyKind.ZERO_AMOUNT)
    client = _client(merkantil_a)
    back = reverse("invoices:anomalies") + "?period=2026-10"
    url = reverse("invoices:anomaly_acknowledge", args=[finding.pk])

    response = client.post(url, {"note": "  ", "next": back}, follow=True)
    assert "Skriv en merknad om hvorfor varselet er i orden." in response.content.decode()
    assert not Anomaly.objects.get(pk=finding.pk).acknowledged

    response = client.post(url, {"note": "Fritak etter vedtak", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    section = _section(client)
    assert "Kvittert av merkantil_a" in section and "Fritak etter vedtak" in section
    assert 'class="anomaly acknowledged"' in section
    assert AuditEvent.objects.filter(action="anomaly.acknowledge", actor=merkantil_a).exists()

    client.post(reverse("invoices:anomaly_unacknowledge", args=[finding.pk]), {"next": back})
    assert not Anomaly.objects.get(pk=finding.pk).acknowledged


def test_next_never_leaves_the_site(
    kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any]
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    finding = Anomaly.objects.get(kind=AnomalyKind.ZERO_AMOUNT)
    response = _client(merkantil_a).post(
        reverse("invoices:anomaly_acknowledge", args=[finding.pk]),
        {"note": "OK", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("invoices:anomalies")


@pytest.mark.parametrize("role", [Role.SYSTEMADMINISTRATOR, Role.LESETILGANG])
def test_readers_see_but_cannot_acknowledge(
    kommune_a: Municipality, month: dict[str, Any], role: Role
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    finding = Anomaly.objects.get(kind=AnomalyKind.ZERO_AMOUNT)
    client = _client(factories.user(f"reader_{role.value}", kommune_a, role))
    page = client.get(reverse("invoices:anomalies"), {"period": PERIOD})
    body = page.content.decode()
    assert page.status_code == 200 and 'data-kind="zero_amount"' in body
    assert "anomaly_acknowledge" not in body and "/kvitter/" not in body
    assert 'data-testid="anomalies-compute"' not in body
    refused = client.post(
        reverse("invoices:anomaly_acknowledge", args=[finding.pk]), {"note": "Ser greit ut"}
    )
    assert refused.status_code == 403
    assert client.post(reverse("invoices:anomaly_compute"), {"period": PERIOD}).status_code == 403
    assert not Anomaly.objects.get(pk=finding.pk).acknowledged


def test_another_municipalitys_warning_and_payer_are_not_found(
    kommune_a: Municipality, merkantil_b: Any, month: dict[str, Any]
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    finding = Anomaly.objects.get(kind=AnomalyKind.ZERO_AMOUNT)
    client = _client(merkantil_b)
    ack = reverse("invoices:anomaly_acknowledge", args=[finding.pk])
    assert client.post(ack, {"note": "Ikke min"}).status_code == 404
    undo = reverse("invoices:anomaly_unacknowledge", args=[finding.pk])
    assert client.post(undo).status_code == 404
    assert client.get(reverse("invoices:payer", args=[month["payer"].pk])).status_code == 404
    section = _section(client)
    assert "Kari Nordmann" not in section and "Ola Nordmann" not in section
    assert not Anomaly.objects.get(pk=finding.pk).acknowledged


def test_payer_history_page(
    kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any], merkantil_b: Any
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    who = month["payer"]
    response = _client(merkantil_a).get(reverse("invoices:payer", args=[who.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Kari Nordmann" in body and who.masked_identifier in body
    assert who.national_id not in body
    for period in [PERIOD, *LAST3]:
        assert period in body
    assert "5\u00a0000,00" in body and "1\u00a0000,00" in body
    assert month["far"].source_reference in body
    assert "Betaler langt fra sitt vanlige beløp" in body  # its warning, linked


def test_a_pending_refresh_is_said_and_polled(
    kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any]
) -> None:
    anomalies.refresh(kommune_a, PERIOD)
    from django.utils import timezone

    AnomalyRun.objects.filter(municipality=kommune_a).update(requested_at=timezone.now())
    section = _section(_client(merkantil_a), place="report")
    assert 'data-testid="anomalies-pending"' in section
    assert 'hx-trigger="load delay:3s"' in section


def test_english_labels(kommune_a: Municipality, merkantil_a: Any, month: dict[str, Any]) -> None:
    from django.conf import settings

    anomalies.refresh(kommune_a, PERIOD)
    client = _client(merkantil_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    section = _section(client)
    assert "Payer far from their usual amount" in section and 'title="payer_far_off"' in section
    assert "Invoice basis of NOK 0" in section


def test_open_warnings_come_before_acknowledged_ones(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    who = payer(kommune_a, 0)
    zeros = [bill(kommune_a, PERIOD, who, 0, status=BasisStatus.RECEIVED) for _ in range(3)]
    anomalies.refresh(kommune_a, PERIOD)
    first = Anomaly.objects.get(basis=zeros[0], kind=AnomalyKind.ZERO_AMOUNT)
    anomalies.anomaly_acknowledge(first, "Fritak", merkantil_a)
    rows = anomalies.for_period(kommune_a, PERIOD).rows.filter(kind=AnomalyKind.ZERO_AMOUNT)
    assert [a.basis_id for a in rows] == [zeros[1].pk, zeros[2].pk, zeros[0].pk]
    section = _section(_client(merkantil_a))
    zero_part = section[section.index('id="anomaly-zero_amount"') :]
    assert zero_part.index(zeros[2].source_reference) < zero_part.index(zeros[0].source_reference)


def test_a_duplicate_line_is_shown_with_its_quantity_in_norwegian(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    line = {"quantity": "2.5", "unit_price_ore": kr(100), "description": "Vask 03.10"}
    factories.basis(kommune_a, payer=payer(kommune_a, 0), lines=[line, line])
    anomalies.refresh(kommune_a, PERIOD)
    section = _section(_client(merkantil_a))
    assert "Antall 2,50, beløp 250,00\u00a0kr · Vask 03.10" in section
