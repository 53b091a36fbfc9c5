"""Stored warnings: a refresh keeps what still fires (with its acknowledgement), removes what no
longer does, and runs after intake, deletion and credit notes have committed."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from invoices import anomalies
from invoices.anomalies.recompute import refresh_requested
from invoices.intake import intake_bases
from invoices.models import (
    Anomaly,
    AnomalyKind,
    AnomalyRun,
    AuditEvent,
    BasisStatus,
    InvoiceBasis,
    Municipality,
)
from invoices.services import invoice_basis_credit, invoice_basis_delete
from tests import factories
from tests.anomalies.helpers import LAST3, PERIOD, bill, filler, kr, payer, stored
from tests.intake import helpers as intake

pytestmark = pytest.mark.django_db


def _far_off_month(m: Municipality) -> Any:
    who = payer(m, 0)
    filler(m, [*LAST3, PERIOD])
    for period in LAST3:
        bill(m, period, who, kr(1000))
    return who, bill(m, PERIOD, who, kr(5000), status=BasisStatus.RECEIVED)


def test_refresh_stores_the_findings_and_the_run(kommune_a: Municipality) -> None:
    who, _basis = _far_off_month(kommune_a)
    run = anomalies.refresh(kommune_a, PERIOD)
    assert stored(kommune_a) == [(AnomalyKind.PAYER_FAR_OFF, f"payer:{who.pk}")]
    assert run.computed_at is not None and run.findings == 1
    assert run.history == LAST3
    assert not run.pending


def test_acknowledgement_survives_a_refresh_and_goes_with_the_finding(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    who, basis = _far_off_month(kommune_a)
    anomalies.refresh(kommune_a, PERIOD)
    finding = Anomaly.objects.get(municipality=kommune_a)
    anomalies.anomaly_acknowledge(finding, "Ny vedtaksperiode", merkantil_a)

    # Still far off, with other figures: the same row, still acknowledged, marked as changed.
    bill(kommune_a, PERIOD, who, kr(1000), status=BasisStatus.RECEIVED)
    anomalies.refresh(kommune_a, PERIOD)
    again = Anomaly.objects.get(municipality=kommune_a)
    assert again.pk == finding.pk
    assert again.acknowledged and again.acknowledged_note == "Ny vedtaksperiode"
    assert again.acknowledged_by == merkantil_a
    assert again.figures["total"] == kr(6000)
    assert again.changed_since_acknowledged

    # No longer fires: the finding and its acknowledgement are gone.
    InvoiceBasis.objects.filter(pk=basis.pk).update(total_ore=kr(1000))
    from invoices import summaries

    summaries.rebuild(kommune_a.pk, PERIOD)
    InvoiceBasis.objects.filter(payer=who, period=PERIOD).exclude(pk=basis.pk).delete()
    summaries.rebuild(kommune_a.pk, PERIOD)
    anomalies.refresh(kommune_a, PERIOD)
    assert stored(kommune_a) == []

    # When it fires again it is a new warning, open.
    bill(kommune_a, PERIOD, who, kr(4000), status=BasisStatus.RECEIVED)
    anomalies.refresh(kommune_a, PERIOD)
    assert not Anomaly.objects.get(municipality=kommune_a).acknowledged


def test_a_refresh_that_changes_nothing_writes_nothing(kommune_a: Municipality) -> None:
    _far_off_month(kommune_a)
    anomalies.refresh(kommune_a, PERIOD)
    before = Anomaly.objects.get(municipality=kommune_a)
    anomalies.refresh(kommune_a, PERIOD)
    after = Anomaly.objects.get(municipality=kommune_a)
    assert (after.pk, after.updated_at) == (before.pk, before.updated_at)


def test_intake_correction_re_evaluates_the_warnings(
    kommune_a: Municipality, services_a: Any, on_commit: Any
) -> None:
    """Through the real intake: a basis posted with a line twice, then corrected at the source
    and posted again under the same reference."""
    twice = intake.basis("HT-1", lines=[intake.line(), intake.line()])
    with on_commit():
        intake_bases(kommune_a, [twice])
    assert [k for k, _ in stored(kommune_a)] == [AnomalyKind.DUPLICATE]
    run = AnomalyRun.objects.get(municipality=kommune_a, period=PERIOD)
    assert run.computed_at is not None and not run.pending

    corrected = intake.basis("HT-1", lines=[intake.line(), intake.line(quantity="2.00")])
    with on_commit():
        intake_bases(kommune_a, [corrected])
    assert stored(kommune_a) == []


def test_a_correction_that_moves_a_basis_re_evaluates_both_months(
    kommune_a: Municipality, services_a: Any, on_commit: Any
) -> None:
    with on_commit():
        intake_bases(
            kommune_a,
            [
                intake.basis("HT-1", period="2026-09", lines=[intake.line()] * 2),
                intake.basis("HT-2", period=PERIOD, lines=[intake.line(quantity="3.00")]),
            ],
        )
    assert stored(kommune_a, "2026-09") == [(AnomalyKind.DUPLICATE, "lines:HT-1#1|HT-1#2")]
    with on_commit():
        intake_bases(kommune_a, [intake.basis("HT-1", period=PERIOD, lines=[intake.line()] * 2)])
    assert stored(kommune_a, "2026-09") == []
    assert stored(kommune_a, PERIOD) == [(AnomalyKind.DUPLICATE, "lines:HT-1#1|HT-1#2")]


def test_an_unchanged_intake_enqueues_nothing(
    kommune_a: Municipality, services_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    intake_bases(kommune_a, [intake.basis("HT-1")])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        intake_bases(kommune_a, [intake.basis("HT-1")])
    assert callbacks == []


def test_a_rejected_intake_asks_for_nothing(
    kommune_a: Municipality, services_a: Any, on_commit: Any
) -> None:
    from invoices.intake import IntakeRejected

    with pytest.raises(IntakeRejected), on_commit():
        intake_bases(kommune_a, [intake.basis("HT-1", lines=[intake.line("NOPE")])])
    assert not AnomalyRun.objects.exists()


def test_deletion_and_credit_notes_re_evaluate(
    kommune_a: Municipality, merkantil_a: Any, on_commit: Any
) -> None:
    who = payer(kommune_a, 0)
    zero = bill(kommune_a, PERIOD, who, 0, status=BasisStatus.RECEIVED)
    sent = bill(kommune_a, PERIOD, who, kr(300), status=BasisStatus.SENT)
    anomalies.refresh(kommune_a, PERIOD)
    assert [k for k, _ in stored(kommune_a)] == [AnomalyKind.ZERO_AMOUNT]

    with on_commit():
        invoice_basis_delete(zero, merkantil_a)
    assert stored(kommune_a) == []

    with on_commit():
        invoice_basis_credit(sent, merkantil_a)
    # The credit note mirrors the sent invoice line for line: the same payer, service, quantity
    # (negated) — not alike, so no duplicate; nothing else fires either.
    assert stored(kommune_a) == []
    run = AnomalyRun.objects.get(municipality=kommune_a, period=PERIOD)
    assert run.computed_at is not None and not run.pending


def test_a_late_refresh_request_that_was_covered_is_skipped(kommune_a: Municipality) -> None:
    _far_off_month(kommune_a)
    asked = timezone.now()
    run = anomalies.refresh(kommune_a, PERIOD)
    assert refresh_requested(kommune_a.pk, [PERIOD], asked.isoformat()) == 0
    assert run.started_at is not None
    later = run.started_at + datetime.timedelta(seconds=1)
    assert refresh_requested(kommune_a.pk, [PERIOD], later.isoformat()) == 1


def test_a_change_to_an_earlier_month_refreshes_the_later_computed_months(
    kommune_a: Municipality, merkantil_a: Any, on_commit: Any
) -> None:
    who = payer(kommune_a, 0)
    filler(kommune_a, [*LAST3, PERIOD])
    for period in LAST3:
        bill(kommune_a, period, who, kr(1000))
    bill(kommune_a, PERIOD, who, kr(1000), status=BasisStatus.RECEIVED)
    anomalies.refresh(kommune_a, PERIOD)
    assert stored(kommune_a) == []
    # A credit note in September (its invoice's month) halves the median's months.
    september = InvoiceBasis.objects.get(payer=who, period="2026-09")
    august = InvoiceBasis.objects.get(payer=who, period="2026-08")
    with on_commit():
        invoice_basis_credit(september, merkantil_a)
        invoice_basis_credit(august, merkantil_a)
    assert stored(kommune_a) == [(AnomalyKind.PAYER_FAR_OFF, f"payer:{who.pk}")]


def test_refresh_of_a_municipality_that_is_gone_does_nothing(kommune_a: Municipality) -> None:
    assert refresh_requested(987654, [PERIOD], timezone.now().isoformat()) == 0


def test_kommune_b_never_enters_kommune_a(kommune_a: Municipality, kommune_b: Municipality) -> None:
    """B has months of history and a payer with the same national id; A's month is computed
    from A's rows alone."""
    filler(kommune_b, [*LAST3, PERIOD])
    a_payer = payer(kommune_a, 0)
    b_payer = factories.party(kommune_b, a_payer.national_id, name="Same id in B")
    for period in LAST3:
        bill(kommune_b, period, b_payer, kr(1000))
    bill(kommune_a, PERIOD, a_payer, kr(1000), status=BasisStatus.RECEIVED)
    run = anomalies.refresh(kommune_a, PERIOD)
    assert run.history == [] and stored(kommune_a) == []  # B's months are not A's history

    filler(kommune_a, ["2026-09"])
    anomalies.refresh(kommune_a, PERIOD)
    anomalies.refresh(kommune_b, PERIOD)
    # Had B's rows counted, A's payer would have three months and not be new.
    assert stored(kommune_a, PERIOD, AnomalyKind.PAYER_NEW) == [
        (AnomalyKind.PAYER_NEW, f"payer:{a_payer.pk}")
    ]
    assert stored(kommune_b, PERIOD, AnomalyKind.PAYER_MISSING) == [
        (AnomalyKind.PAYER_MISSING, f"payer:{b_payer.pk}")
    ]
    assert not Anomaly.objects.filter(municipality=kommune_a, payer__municipality=kommune_b)
    summary = anomalies.for_period(kommune_a, PERIOD)
    assert {a.payer_id for a in summary.rows} - {None} == {a_payer.pk}
    assert {a.municipality_id for a in summary.rows} == {kommune_a.pk}


def test_kommune_bs_regular_payer_is_never_missing_in_a(
    kommune_a: Municipality, kommune_b: Municipality
) -> None:
    """A and B have data in the same months; B's regular payer, who has nothing this month, is a
    warning of B's and never of A's."""
    filler(kommune_a, [*LAST3, PERIOD])
    filler(kommune_b, [PERIOD])
    regular_in_b = factories.party(kommune_b, "55899010042", name="Fast i B")
    for period in LAST3:
        bill(kommune_b, period, regular_in_b, kr(700))
    anomalies.refresh(kommune_a, PERIOD)
    anomalies.refresh(kommune_b, PERIOD)
    assert stored(kommune_a, PERIOD, AnomalyKind.PAYER_MISSING) == []
    assert stored(kommune_b, PERIOD, AnomalyKind.PAYER_MISSING) == [
        (AnomalyKind.PAYER_MISSING, f"payer:{regular_in_b.pk}")
    ]
    assert not Anomaly.objects.filter(municipality=kommune_a, payer__municipality=kommune_b)


def test_acknowledge_is_audited_and_needs_a_note(
    kommune_a: Municipality, merkantil_a: Any, superbruker_a: Any, admin_a: Any
) -> None:
    _far_off_month(kommune_a)
    anomalies.refresh(kommune_a, PERIOD)
    finding = Anomaly.objects.get(municipality=kommune_a)
    with pytest.raises(anomalies.AnomalyError, match="merknad"):
        anomalies.anomaly_acknowledge(finding, "   ", merkantil_a)
    with pytest.raises(anomalies.AnomalyError, match="merkantil og superbruker"):
        anomalies.anomaly_acknowledge(finding, "Sjekket", admin_a)
    assert not Anomaly.objects.get(pk=finding.pk).acknowledged
    anomalies.anomaly_acknowledge(finding, "Sjekket mot vedtak", superbruker_a)
    event = AuditEvent.objects.get(action="anomaly.acknowledge")
    assert event.actor == superbruker_a and event.data["note"] == "Sjekket mot vedtak"
    assert event.data["kind"] == AnomalyKind.PAYER_FAR_OFF
    anomalies.anomaly_unacknowledge(finding, merkantil_a)
    assert not Anomaly.objects.get(pk=finding.pk).acknowledged
    undo = AuditEvent.objects.get(action="anomaly.unacknowledge")
    assert undo.actor == merkantil_a and undo.data["note_was"] == "Sjekket mot vedtak"
