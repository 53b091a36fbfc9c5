"""Data migrations keep what an installation has: the settings that moved from the export profile
to the domain, and the refused flag read from the attempts it replaced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("invoices", "0003_month_tables_no_redundant_indexes"),
    ("exports", "0002_items_no_redundant_index"),
    ("integrations", "0002_attempt_indexes_partial"),
]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate to `targets` and return the app registry as it stands there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return [key for key in executor.loader.graph.leaf_nodes() if key[0] in {a for a, _ in BEFORE}]


@pytest.fixture
def at_the_old_schema() -> Iterator[Any]:
    apps = _migrate(BEFORE)
    yield apps
    _migrate(_latest())


def _basis(apps: Any, municipality: Any, ref: str, status: str) -> Any:
    unit = apps.get_model("invoices", "Unit").objects.get_or_create(
        municipality=municipality, code="U", defaults={"name": "Enhet"}
    )[0]
    party = apps.get_model("invoices", "Party").objects.get_or_create(
        municipality=municipality, national_id="15899010059", defaults={"name": "Ola"}
    )[0]
    return apps.get_model("invoices", "InvoiceBasis").objects.create(
        municipality=municipality,
        unit=unit,
        period="2026-10",
        payer=party,
        recipient=party,
        source_reference=ref,
        status=status,
        content_hash="0" * 64,
    )


def test_route_oppdragsgiver_and_kb_slots_move_to_the_domain_and_back(
    at_the_old_schema: Any,
) -> None:
    apps = at_the_old_schema
    Municipality = apps.get_model("invoices", "Municipality")
    ExportProfile = apps.get_model("exports", "ExportProfile")
    slots = ["", "", "", "prosjekt", "", "", "", "", "", "ansvar"]
    agresso = Municipality.objects.create(number="9999", name="A")
    plain = Municipality.objects.create(number="9998", name="B")
    ExportProfile.objects.create(
        municipality=agresso,
        transfer_route="agresso_file",
        default_oppdragsgiver="014",
        kb_slots=slots,
        line_ending="lf",
    )
    ExportProfile.objects.create(municipality=plain)

    apps = _migrate(_latest())
    settings = {
        s.municipality.number: (s.transfer_route, s.default_oppdragsgiver, s.kb_slots)
        for s in apps.get_model("invoices", "AccountingSettings").objects.all()
    }
    assert settings == {
        "9999": ("agresso_file", "014", slots),
        "9998": ("visma_file", "", [""] * 10),
    }
    # The file channel keeps its own settings.
    assert apps.get_model("exports", "ExportProfile").objects.get(
        municipality__number="9999"
    ).line_ending == ("lf")

    apps = _migrate(BEFORE)
    profile = apps.get_model("exports", "ExportProfile").objects.get(municipality__number="9999")
    assert (profile.transfer_route, profile.default_oppdragsgiver, profile.kb_slots) == (
        "agresso_file",
        "014",
        slots,
    )


def test_failed_bases_whose_latest_attempt_was_rejected_get_the_refused_flag(
    at_the_old_schema: Any,
) -> None:
    apps = at_the_old_schema
    municipality = apps.get_model("invoices", "Municipality").objects.create(
        number="9999", name="A"
    )
    Transfer = apps.get_model("integrations", "Transfer")
    Attempt = apps.get_model("integrations", "TransferAttempt")

    def attempt(basis: Any, state: str, *, is_test: bool = False) -> None:
        # One transfer per attempt, as a retry makes a new transfer.
        transfer = Transfer.objects.create(municipality=municipality, period="2026-10")
        Attempt.objects.create(
            transfer=transfer,
            basis=basis,
            reference=f"9999-{basis.pk:09d}",
            state=state,
            is_test=is_test,
        )

    cases = {
        "REFUSED": ("failed", ["rejected"]),
        "GAVE-UP": ("failed", ["failed"]),
        "REFUSED-THEN-GAVE-UP": ("failed", ["rejected", "failed"]),
        "GAVE-UP-THEN-REFUSED": ("failed", ["failed", "rejected"]),
        "SENT": ("sent", ["rejected", "sent"]),
    }
    for ref, (status, states) in cases.items():
        basis = _basis(apps, municipality, ref, status)
        for state in states:
            attempt(basis, state)
    # A test transfer's rejection says nothing about the real ones.
    test_only = _basis(apps, municipality, "TEST-REJECTED", "failed")
    attempt(test_only, "failed")
    attempt(test_only, "rejected", is_test=True)

    apps = _migrate(_latest())
    flagged = set(
        apps.get_model("invoices", "InvoiceBasis")
        .objects.filter(refused_by_receiver=True)
        .values_list("source_reference", flat=True)
    )
    assert flagged == {"REFUSED", "GAVE-UP-THEN-REFUSED"}
