"""The thresholds page: the systemadministrator's, audited before/after, and bad input refused
in Bokmål with nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from invoices import anomalies
from invoices.models import AnomalyRun, AnomalySettings, AuditEvent, Municipality

pytestmark = pytest.mark.django_db

URL = "/administrasjon/avvik/"
VALID = {"share_percent": "40", "amount_kr": "1 250,50", "count": "5"}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_url() -> None:
    assert reverse("anomaly_settings") == URL


def test_defaults_are_shown_without_storing_anything(kommune_a: Municipality, admin_a: Any) -> None:
    body = _client(admin_a).get(URL).content.decode()
    assert 'value="50"' in body and 'value="500"' in body and 'value="10"' in body
    assert not AnomalySettings.objects.exists()
    limits = anomalies.thresholds_for(kommune_a)
    assert (limits.share_percent, limits.amount_ore, limits.count) == (50, 50_000, 10)


def test_admin_saves_and_the_change_is_audited(
    kommune_a: Municipality,
    admin_a: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    AnomalyRun.objects.create(municipality=kommune_a, period="2026-10")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _client(admin_a).post(URL, VALID)
    assert response.status_code == 302
    stored = AnomalySettings.objects.get(municipality=kommune_a)
    assert (stored.share_percent, stored.amount_ore, stored.count) == (40, 125_050, 5)
    assert stored.updated_by == admin_a
    event = AuditEvent.objects.get(action="anomaly_settings.changed")
    assert event.actor == admin_a and event.municipality == kommune_a
    assert event.data["changes"] == {
        "share_percent": {"before": 50, "after": 40},
        "amount_ore": {"before": 50_000, "after": 125_050},
        "count": {"before": 10, "after": 5},
    }
    assert len(callbacks) == 1  # the computed months are computed again with the new thresholds

    # Saving the same values again changes nothing and audits nothing.
    _client(admin_a).post(URL, VALID)
    assert AuditEvent.objects.filter(action="anomaly_settings.changed").count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("share_percent", "abc", "Andelen må være et helt tall fra 1 til 1000"),
        ("share_percent", "0", "Andelen må være et helt tall fra 1 til 1000"),
        ("share_percent", "1001", "Andelen må være et helt tall fra 1 til 1000"),
        ("share_percent", "12,5", "Andelen må være et helt tall fra 1 til 1000"),
        ("amount_kr", "-500", "Skriv beløpet i kroner med høyst to desimaler"),
        ("amount_kr", "12,345", "Skriv beløpet i kroner med høyst to desimaler"),
        ("amount_kr", "1 00", "Skriv beløpet i kroner med høyst to desimaler"),
        ("amount_kr", "femhundre", "Skriv beløpet i kroner med høyst to desimaler"),
        ("amount_kr", "100 000 001", "Beløpet kan være høyst 100 000 000 kr."),
        ("count", "-1", "Antallet må være et helt tall fra 0 til 1 000 000."),
        ("count", "2.5", "Antallet må være et helt tall fra 0 til 1 000 000."),
        ("count", "", "Antallet må fylles ut, for eksempel 10."),
        ("amount_kr", "  ", "Beløpet må fylles ut, for eksempel 500."),
    ],
)
def test_bad_input_is_refused_in_bokmal_and_nothing_is_stored(
    kommune_a: Municipality, admin_a: Any, field: str, value: str, message: str
) -> None:
    response = _client(admin_a).post(URL, {**VALID, field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AnomalySettings.objects.exists()
    assert not AuditEvent.objects.filter(action="anomaly_settings.changed").exists()


@pytest.mark.parametrize(
    ("typed", "ore"),
    [("500", 50_000), ("500,5", 50_050), ("1250.50", 125_050), ("kr 1 000", 100_000), ("0", 0)],
)
def test_amounts_as_people_type_them(
    kommune_a: Municipality, admin_a: Any, typed: str, ore: int
) -> None:
    _client(admin_a).post(URL, {**VALID, "amount_kr": typed})
    assert AnomalySettings.objects.get(municipality=kommune_a).amount_ore == ore


def test_only_the_systemadministrator(
    kommune_a: Municipality, merkantil_a: Any, superbruker_a: Any
) -> None:
    for user in (merkantil_a, superbruker_a):
        assert _client(user).post(URL, VALID).status_code == 403
        assert _client(user).get(URL).status_code == 403
    with pytest.raises(anomalies.AnomalyError):
        anomalies.anomaly_settings_update(
            kommune_a, values={"share_percent": 10}, actor=merkantil_a
        )
    assert not AnomalySettings.objects.exists()


def test_each_municipality_has_its_own(
    kommune_a: Municipality, kommune_b: Municipality, admin_a: Any
) -> None:
    _client(admin_a).post(URL, VALID)
    assert anomalies.thresholds_for(kommune_b).share_percent == 50
    assert anomalies.thresholds_for(kommune_a).share_percent == 40
