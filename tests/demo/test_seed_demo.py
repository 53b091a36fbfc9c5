"""`seed_demo` end to end: Demo kommune, its users, and a month stored through the real intake."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.test import RequestFactory

from exports.models import Export, ExportProfile
from integrations.models import VismaSettings
from invoices import demo_data, summaries
from invoices.demo_data import DEMO_USERS, SIZES, build_document, iter_invoice_bases
from invoices.identifiers import validate_org_number
from invoices.models import (
    Anomaly,
    AnomalyKind,
    AuditEvent,
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Membership,
    Municipality,
    Party,
    Role,
    Service,
)
from invoices.validation import validate_stored

pytestmark = pytest.mark.django_db

PERIOD = "2026-10"


def seed(*args: str, months: int = 1) -> str:
    """One month unless the test is about the history: the history exports twelve files."""
    out = io.StringIO()
    call_command("seed_demo", "--period", PERIOD, "--months", str(months), *args, stdout=out)
    return out.getvalue()


def test_seed_demo_stores_the_month_and_the_users() -> None:
    output = seed()

    m = Municipality.objects.get(number="9999")
    assert m.name == "Demo kommune"
    assert validate_org_number(m.org_number) == m.org_number
    roles = {ms.user.username: ms.role for ms in Membership.objects.filter(municipality=m)}
    assert roles == {
        "admin": Role.SYSTEMADMINISTRATOR,
        "merkantil": Role.MERKANTIL,
        "superbruker": Role.SUPERBRUKER,
    }
    for username, password, _role in DEMO_USERS:
        # Through a login request, as the login page does: throttling needs to know who asks.
        request = RequestFactory().post("/logg-inn/")
        assert authenticate(request, username=username, password=password) is not None

    pb = Service.objects.get(municipality=m, code="PB")
    assert (pb.visma_oppdragsgiver, pb.visma_vare, pb.agresso_article) == ("013", "0100", "4101")
    assert Service.objects.filter(municipality=m).count() == len(demo_data.CATALOGUE)

    bases = InvoiceBasis.objects.filter(municipality=m, period=PERIOD)
    assert bases.count() == SIZES["S"].bases
    assert InvoiceLine.objects.filter(basis__municipality=m).count() == SIZES["S"].lines
    generated = build_document("S", seed=1, period=PERIOD)["invoice_bases"]
    expected_total = sum(ln["amount_ore"] for b in generated for ln in b["lines"])
    assert bases.aggregate(total=Sum("total_ore"))["total"] == expected_total
    for credit in bases.filter(kind=BasisKind.CREDIT).select_related("credits"):
        assert credit.credits is not None
        assert credit.credits.payer_id == credit.payer_id and credit.total_ore < 0

    assert "200 nye" in output
    assert "HJT-NORD" in output and "Hjemmetjenesten sone nord" in output
    assert "merkantil-demo-2026" in output


def test_if_empty_stores_nothing_new_the_second_time() -> None:
    seed("--if-empty")
    counts = (InvoiceBasis.objects.count(), Party.objects.count(), AuditEvent.objects.count())

    output = seed("--if-empty", "--seed", "2")

    assert "ingenting å gjøre" in output
    assert (
        InvoiceBasis.objects.count(),
        Party.objects.count(),
        AuditEvent.objects.count(),
    ) == counts


def test_a_plain_rerun_is_a_safe_retry() -> None:
    seed()
    hashes = dict(InvoiceBasis.objects.values_list("source_reference", "content_hash"))

    output = seed()

    assert "0 nye, 0 oppdatert, 200 uendret" in output
    assert dict(InvoiceBasis.objects.values_list("source_reference", "content_hash")) == hashes
    assert "fantes fra før" in output  # passwords of existing users are left alone


def test_months_larger_than_one_intake_chunk_go_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Credits then point at invoices stored by an earlier chunk.
    monkeypatch.setattr(demo_data, "INTAKE_CHUNK", 30)
    m = demo_data.setup_demo_municipality()

    totals = demo_data.load_month(m, "S", seed=4, period=PERIOD)

    assert (totals.created, totals.updated, totals.unchanged) == (200, 0, 0)
    assert InvoiceBasis.objects.filter(kind=BasisKind.CREDIT, credits__isnull=False).count() == 2


def test_each_channel_seeds_its_part_once() -> None:
    output = seed()

    municipality = Municipality.objects.get(number="9999")
    assert ExportProfile.objects.filter(municipality=municipality).count() == 1
    assert VismaSettings.objects.get(municipality=municipality).enabled
    assert "exports: export profile created" in output
    assert "integrations: Visma settings created" in output
    # A second run keeps what an administrator may have changed since.
    again = seed()
    assert "exports: export profile kept" in again
    assert "integrations: Visma settings kept" in again


def test_refuses_production_unless_forced(settings: Any) -> None:
    settings.DJANGO_ENV = "production"
    with pytest.raises(CommandError, match="produksjon"):
        seed()
    assert not Municipality.objects.filter(number="9999").exists()
    seed("--force")
    assert InvoiceBasis.objects.count() == SIZES["S"].bases


def test_refuses_when_synthetic_ids_are_off(settings: Any) -> None:
    settings.ALLOW_SYNTHETIC_IDS = False
    with pytest.raises(CommandError, match="ALLOW_SYNTHETIC_IDS"):
        seed()
    assert not InvoiceBasis.objects.exists()


def test_generate_invoice_bases_writes_the_intake_document(tmp_path: Any) -> None:
    path = tmp_path / "m.json"
    out = io.StringIO()
    call_command(
        "generate_invoice_bases", "--size", "S", "--seed", "5", "--period", PERIOD,
        "--output", str(path), stdout=out,
    )  # fmt: skip
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["municipality"] == "9999"
    assert document["invoice_bases"] == list(iter_invoice_bases("S", seed=5, period=PERIOD))
    assert "200 fakturagrunnlag" in out.getvalue()


def test_generate_invoice_bases_refuses_a_bad_period(tmp_path: Any) -> None:
    with pytest.raises(CommandError):
        call_command(
            "generate_invoice_bases", "--period", "2026-13", "--output", str(tmp_path / "x.json")
        )


def test_the_demo_has_a_year_of_history_and_an_open_month_with_something_to_look_at(
    settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    output = seed(months=13)

    m = Municipality.objects.get(number="9999")
    periods = sorted(
        set(InvoiceBasis.objects.filter(municipality=m).values_list("period", flat=True))
    )
    assert len(periods) == 13 and periods[-1] == PERIOD
    assert "historikk: 12 måneder (2025-10–2026-09)" in output
    # The past months were approved and exported to a file each, by the demo clerk.
    exports = Export.objects.filter(municipality=m)
    assert sorted(exports.values_list("period", flat=True)) == periods[:-1]
    assert set(exports.values_list("status", flat=True)) == {"done"}
    assert set(exports.values_list("created_by__username", flat=True)) == {"merkantil"}
    past = InvoiceBasis.objects.filter(municipality=m, period__lt=PERIOD)
    assert set(past.values_list("status", flat=True)) == {BasisStatus.EXPORTED}
    # The current month is open, and the validation stops the three bases of the ended service.
    current = InvoiceBasis.objects.filter(municipality=m, period=PERIOD)
    assert set(current.values_list("status", flat=True)) == {BasisStatus.RECEIVED}
    reports = validate_stored(m, current)
    blocked = {i.code for r in reports.values() if r.blocking for i in r.errors}
    assert blocked == {"service_not_valid"}
    assert sum(1 for r in reports.values() if r.blocking) == 3
    # What was planted: foot care never billed before, transport to the day centre gone.
    assert InvoiceLine.objects.filter(basis__in=current, service__code="FOT").count() == 4
    assert not InvoiceLine.objects.filter(basis__in=current, service__code="TRP").exists()
    assert InvoiceLine.objects.filter(basis__in=past, service__code="TRP").exists()
    for period in periods:
        assert summaries.drift(m.pk, period) == {}
    # Every kind of warning is there on the first login, computed by the seeding, and each as
    # planted: not the noise of a history that varies too much.
    found = Counter(
        Anomaly.objects.filter(municipality=m, period=PERIOD).values_list("kind", flat=True)
    )
    assert set(found) == set(AnomalyKind.values), set(AnomalyKind.values) - set(found)
    assert found[AnomalyKind.PAYER_FAR_OFF] == 3  # two planted, and the basis sent twice
    assert found[AnomalyKind.PAYER_MISSING] == 2 and found[AnomalyKind.PAYER_NEW] == 3
    assert found[AnomalyKind.SERVICE_VANISHED] == 1
    assert "avviksvarsler 2026-10:" in output
