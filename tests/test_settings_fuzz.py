"""Promise 7 for the administrator's forms: whatever is posted to the Visma settings page or the
export profile page, the answer is a page or a redirect, never a 500, and a refused post changes
nothing that was stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports.demo import seed_demo as seed_export_profile
from exports.models import ExportProfile
from integrations.models import VismaSettings
from invoices.models import AccountingSettings, AuditEvent
from invoices.services import accounting_settings_get

# Text with the characters that break naive code: controls, NUL, surrogate-free unicode, URL bits.
nasty = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "https://visma.example.no/fakturering_ws/",
            "http://127.0.0.1:8290/fakturering_ws/",
            "https://user:pw@visma.example.no/fakturering_ws/",
            "https://visma.example.no/fakturering_ws/?a=1",
            "javascript:alert(1)",
            "\x00",
            "x" * 400,
            "1" * 11,
            "-1",
            "9" * 30,
            "ansvar",
        ]
    ),
)

SETTINGS_FIELDS = ("selskap", "base_url", "username", "enabled")  # password drawn apart


def _snapshot_visma() -> list[tuple[Any, ...]]:
    return list(
        VismaSettings.objects.values_list(
            "selskap", "base_url", "username", "password_encrypted", "enabled"
        )
    )


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.dictionaries(st.sampled_from(SETTINGS_FIELDS), nasty, max_size=4),
    password=st.one_of(st.none(), st.text(max_size=30).map(lambda t: "Pw§" + t)),
)
def test_visma_settings_page_never_500s(
    data: dict[str, str], password: str | None, admin_a: Any
) -> None:
    if password is not None:
        data["password"] = password
    client = Client(raise_request_exception=False)
    client.force_login(admin_a)
    before = _snapshot_visma()
    audits = AuditEvent.objects.count()
    response = client.post(reverse("integrations:settings"), data)
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:
        # Refused: nothing stored, nothing audited.
        assert _snapshot_visma() == before
        assert AuditEvent.objects.count() == audits
    if password is not None:
        body = response.content.decode()
        assert password not in body and escape(password) not in body


PROFILE_FIELDS = (
    "transfer_route",
    "visma_layout",
    "encoding",
    "line_ending",
    "quantity_decimals",
    "default_oppdragsgiver",
    "agresso_layout",
    "agresso_client",
    "order_id_start",
    "order_id_end",
    "customer_mode",
    "batch_prefix",
    "header_text_template",
    "dim_required",
    "cs15_enabled",
)


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.dictionaries(st.sampled_from(PROFILE_FIELDS), nasty, max_size=8))
def test_export_profile_page_never_500s(data: dict[str, str], admin_a: Any) -> None:
    municipality = admin_a.memberships.get().municipality
    seed_export_profile(municipality)
    accounting_settings_get(municipality)
    client = Client(raise_request_exception=False)
    client.force_login(admin_a)
    before = (list(ExportProfile.objects.values()), list(AccountingSettings.objects.values()))
    response = client.post(reverse("exports:profile"), data)
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:
        after = (list(ExportProfile.objects.values()), list(AccountingSettings.objects.values()))
        assert after == before
