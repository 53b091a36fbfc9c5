"""The delivery protocol over real HTTP against the simulator (which does not deduplicate here,
so any second delivery of a basis would show as a second stored copy)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import delivery, outcome, services, status
from integrations.crypto import SecretUnreadable
from integrations.models import (
    AttemptState,
    BasisVismaStatus,
    Transfer,
    TransferAttempt,
    VismaSettings,
)
from integrations.visma.client import get_client
from integrations.visma.errors import AuthenticationFailed, ClientFault, ConfigurationError
from integrations.visma.mapping import context_for, load
from integrations.visma.types import Melding, SendResult, SoapBasis, StatusResult
from invoices.identifiers import is_valid_kid
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis
from invoices.services import invoice_basis_unapprove
from tests import factories
from tests.integrations.conftest import DEMO_PASSWORD, configure
from tests.integrations.helpers import bulk_bases, per_ref, run_transfer, states


def _status(pk: int) -> str:
    return InvoiceBasis.objects.values_list("status", flat=True).get(pk=pk)


def test_happy_path_sends_each_basis_once(kommune_a, visma_a, simulator, merkantil_a, wakeups):
    ids = bulk_bases(kommune_a, 450)
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)

    # Bases are locked in the same transaction as the outbox rows, before any call.
    assert {_status(pk) for pk in ids} == {BasisStatus.SENDING}
    assert transfer.attempts.filter(state=AttemptState.PENDING).count() == 450
    assert all(a.reference == a.basis.reference for a in transfer.attempts.select_related("basis"))
    run_transfer(transfer)

    assert transfer.status == "done"
    assert states(transfer) == {"sent": 450}
    assert {_status(pk) for pk in ids} == {BasisStatus.SENT}
    stats = simulator.stats()
    assert stats["calls"]["SendFakturagrunnlag"] == 3  # 200 + 200 + 50
    assert stats["stored_unique"] == 450 and stats["stored_more_than_once"] == []
    assert all(a.grunnlag_id for a in transfer.attempts.all())
    assert len({a.batch_reference for a in transfer.attempts.all()}) == 3
    assert AuditEvent.objects.filter(action="visma.transfer_finished", object_id=str(transfer.pk))


def test_rejected_bases_get_visma_messages_and_can_be_corrected(
    kommune_a, visma_a, simulator, merkantil_a
):
    good = factories.basis(kommune_a)
    unknown_vare = factories.service(kommune_a, code="XX", visma_vare="0999")
    bad = factories.basis(kommune_a, lines=[{"service": unknown_vare}])
    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))

    rejected = transfer.attempts.get(basis=bad)
    assert rejected.state == AttemptState.REJECTED and not rejected.retryable
    assert rejected.visma_status == "AVVIST"
    assert [m["kode"] for m in rejected.messages] == ["UKJENT_VARE"]
    assert rejected.messages[0]["felt"] == "linje[1].varenr"
    # The basis leaves *sending* for *failed*: not locked, so it can be corrected.
    assert _status(bad.pk) == BasisStatus.FAILED
    assert not InvoiceBasis.objects.get(pk=bad.pk).is_locked
    # Visma stored nothing: the channel says so, and the domain lets the basis be taken back.
    assert InvoiceBasis.objects.get(pk=bad.pk).refused_by_receiver
    assert _status(good.pk) == BasisStatus.SENT
    assert transfer.status == "done"
    # A rejected basis is not offered for a plain resend.
    with pytest.raises(services.TransferError):
        services.transfer_retry_failed(transfer, actor=merkantil_a)
    # Once the catalogue is corrected it can be sent again (AVVIST stored nothing).
    unknown_vare.visma_vare = "0200"
    unknown_vare.save()
    retry = run_transfer(
        services.transfer_retry_failed(transfer, actor=merkantil_a, include_rejected=True)
    )
    assert states(retry) == {"sent": 1}
    assert _status(bad.pk) == BasisStatus.SENT
    assert not InvoiceBasis.objects.get(pk=bad.pk).refused_by_receiver
    assert simulator.stats()["stored_more_than_once"] == []


def test_a_refused_basis_can_be_taken_back_and_corrected_but_not_a_basis_that_gave_up(
    kommune_a, visma_a, simulator, merkantil_a, settings
):
    unknown_vare = factories.service(kommune_a, code="XX", visma_vare="0999")
    refused = factories.basis(kommune_a, lines=[{"service": unknown_vare}])
    run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    settings.VISMA_MAX_SEND_ATTEMPTS = 2
    gave_up = factories.basis(kommune_a, status=BasisStatus.APPROVED)
    simulator.set_faults(dedup=False, http_5xx_rate=1.0, operations=["SendFakturagrunnlag"])
    run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    assert _status(gave_up.pk) == BasisStatus.FAILED

    assert invoice_basis_unapprove(InvoiceBasis.objects.all(), merkantil_a) == 1
    assert _status(refused.pk) == BasisStatus.RECEIVED
    assert not InvoiceBasis.objects.get(pk=refused.pk).refused_by_receiver
    assert _status(gave_up.pk) == BasisStatus.FAILED


def test_wrong_password_stops_the_run_and_retry_after_fix_sends(
    kommune_a, visma_a, simulator, merkantil_a
):
    ids = bulk_bases(kommune_a, 250)
    configure(kommune_a, simulator.url, password="wrong-password")
    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))

    assert transfer.status == "stopped"
    assert "passord" in transfer.stop_reason
    assert states(transfer) == {"failed": 250}
    assert all(a.retryable for a in transfer.attempts.all())
    assert {_status(pk) for pk in ids} == {BasisStatus.FAILED}
    assert simulator.stats()["stored_total"] == 0
    assert simulator.stats()["calls"].get("SendFakturagrunnlag", 0) <= 1
    event = AuditEvent.objects.get(action="visma.transfer_stopped", object_id=str(transfer.pk))
    assert event.data["code"] == "HTTP_401"

    configure(kommune_a, simulator.url, password=DEMO_PASSWORD)
    retry = run_transfer(services.transfer_retry_failed(transfer, actor=merkantil_a))
    assert retry.retry_of_id == transfer.pk
    assert states(retry) == {"sent": 250}
    assert simulator.stats()["stored_unique"] == 250
    assert simulator.stats()["stored_more_than_once"] == []


def test_unknown_company_stops_the_run(kommune_a, visma_a, simulator, merkantil_a):
    factories.basis(kommune_a)
    configure(kommune_a, simulator.url, selskap="77")
    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    assert transfer.status == "stopped"
    assert transfer.stop_reason.startswith("Ukjent selskap «77»: selskapet finnes ikke i Visma")
    assert states(transfer) == {"failed": 1}
    event = AuditEvent.objects.get(action="visma.transfer_stopped", object_id=str(transfer.pk))
    assert event.data["code"] == "UKJENT_SELSKAP"


@pytest.mark.parametrize(
    "faults",
    [
        {"http_5xx_rate": 0.5, "seed": 3},
        {"http_429_rate": 0.3, "server_fault_rate": 0.3, "seed": 1},
        {"reset_rate": 0.4, "seed": 7},
        {"timeout_rate": 0.5, "timeout_seconds": 0.8, "seed": 11},
        {"garbled_rate": 0.5, "seed": 13},
    ],
    ids=["5xx", "429+fault", "reset", "timeout", "garbled"],
)
def test_transient_faults_are_recovered_exactly_once(
    kommune_a, visma_a, simulator, merkantil_a, settings, faults
):
    settings.VISMA_READ_TIMEOUT = 0.4
    settings.VISMA_BATCH_SIZE = 25
    ids = bulk_bases(kommune_a, 100)
    simulator.set_faults(**faults)
    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    simulator.set_faults(http_5xx_rate=0, http_429_rate=0, server_fault_rate=0)

    assert states(transfer) == {"sent": 100}
    stats = simulator.stats()
    assert sum(stats["faults_injected"].values()) > 0, "the faults must actually have happened"
    assert stats["stored_unique"] == 100
    assert stats["stored_more_than_once"] == []
    assert {_status(pk) for pk in ids} == {BasisStatus.SENT}


def test_lost_reply_is_resolved_by_hentstatus_without_a_resend(
    kommune_a, visma_a, simulator, merkantil_a
):
    ids = bulk_bases(kommune_a, 30)
    simulator.set_faults(drop_reply_rate=1.0, operations=["SendFakturagrunnlag"])
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)

    delivery.transfer_process(transfer.pk)
    transfer.refresh_from_db()
    assert transfer.status == "done"
    assert states(transfer) == {"sent": 30}
    stats = simulator.stats()
    assert stats["calls"]["SendFakturagrunnlag"] == 1
    assert stats["calls"]["HentStatus"] == 1
    refs = per_ref(stats)
    assert len(refs) == 30
    # Exactly one store call per referanse: the lost reply was looked up, never resent.
    assert {r["received"] for r in refs.values()} == {1}
    assert {r["stored"] for r in refs.values()} == {1}
    assert {a.visma_status for a in transfer.attempts.all()} == {"MOTTATT"}
    assert {_status(pk) for pk in ids} == {BasisStatus.SENT}


def test_lost_reply_is_not_resent_until_hentstatus_answers(
    kommune_a, visma_a, simulator, merkantil_a
):
    bulk_bases(kommune_a, 10)
    # Replies are lost, and HentStatus is unavailable for a while.
    simulator.set_faults(drop_reply_rate=1.0, operations=["SendFakturagrunnlag"])
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    delivery._deliver(claim)
    assert states(transfer) == {"unknown": 10}
    assert all(a.status_check_required for a in transfer.attempts.all())

    simulator.set_faults(drop_reply_rate=0, http_5xx_rate=1.0, operations=["HentStatus"])
    for _ in range(3):
        delivery.transfer_process(transfer.pk)
    assert states(transfer) == {"unknown": 10}
    assert simulator.stats()["calls"]["SendFakturagrunnlag"] == 1  # nothing resent meanwhile

    simulator.set_faults(http_5xx_rate=0)
    run_transfer(transfer)
    assert states(transfer) == {"sent": 10}
    assert simulator.stats()["calls"]["SendFakturagrunnlag"] == 1
    # Every lookup counts, the refused ones and the one that answered.
    lookups = simulator.stats()["calls"]["HentStatus"]
    assert lookups >= 4
    assert {a.status_checks for a in transfer.attempts.all()} == {lookups}


def test_mixed_outcomes_in_one_batch(kommune_a, visma_a, simulator, merkantil_a):
    ok = factories.basis(kommune_a)
    earlier = factories.basis(kommune_a)
    unknown_vare = factories.service(kommune_a, code="XX", visma_vare="0999")
    rejected = factories.basis(
        kommune_a,
        lines=[{"service": unknown_vare}],
        payer=factories.party(kommune_a, "14819010170"),
    )
    no_postcode = factories.basis(
        kommune_a, payer=factories.party(kommune_a, factories.FNR_2032, postcode="")
    )
    # `earlier` is already in Visma with the same content (e.g. a previous product run): a
    # deduplicating Visma answers DUPLIKAT, which counts as sent.
    simulator.set_faults(dedup=True)
    soap = load([earlier.pk], context_for(kommune_a))[earlier.pk]
    assert isinstance(soap, SoapBasis)
    client = get_client(visma_a.base_url, "demo", DEMO_PASSWORD)
    assert client.send("1", "tidligere", [soap], False)[0].status == "MOTTATT"

    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    by_basis = {a.basis_id: a for a in transfer.attempts.all()}
    assert by_basis[ok.pk].visma_status == "MOTTATT"
    assert by_basis[earlier.pk].visma_status == "DUPLIKAT"
    assert by_basis[earlier.pk].state == AttemptState.SENT
    assert by_basis[rejected.pk].state == AttemptState.REJECTED
    assert by_basis[no_postcode.pk].state == AttemptState.REJECTED
    assert by_basis[no_postcode.pk].visma_status == "LOKAL_KONTROLL"
    assert by_basis[no_postcode.pk].messages[0]["kode"] == "MANGLER_POSTNR"
    assert simulator.stats()["calls"]["SendFakturagrunnlag"] == 2  # ours + the earlier one
    assert states(transfer) == {"sent": 2, "rejected": 2}
    assert _status(ok.pk) == _status(earlier.pk) == BasisStatus.SENT
    assert _status(rejected.pk) == _status(no_postcode.pk) == BasisStatus.FAILED


def test_double_start_creates_no_second_live_attempt(
    kommune_a, visma_a, merkantil_a, superbruker_a
):
    bulk_bases(kommune_a, 5)
    first = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    with pytest.raises(services.TransferError):
        services.transfer_start(kommune_a, period="2026-10", actor=superbruker_a)
    assert Transfer.objects.filter(is_test=False).count() == 1
    assert TransferAttempt.objects.filter(is_test=False).count() == 5
    assert first.attempts.count() == 5
    # Even a direct insert that bypasses the service is refused by the database.
    basis = first.attempts.get(basis_id=min(a.basis_id for a in first.attempts.all())).basis
    second = Transfer.objects.create(municipality=kommune_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        TransferAttempt.objects.create(transfer=second, basis=basis, reference=basis.reference)


def test_test_transfer_locks_nothing_and_is_marked(kommune_a, visma_a, simulator, superbruker_a):
    ids = bulk_bases(kommune_a, 3)
    unknown_vare = factories.service(kommune_a, code="XX", visma_vare="0999")
    bad = factories.basis(kommune_a, lines=[{"service": unknown_vare}])
    transfer = services.transfer_start(
        kommune_a, basis_ids=[*ids, bad.pk], actor=superbruker_a, test=True
    )
    assert transfer.is_test
    assert {_status(pk) for pk in [*ids, bad.pk]} == {BasisStatus.APPROVED}
    run_transfer(transfer)
    assert states(transfer) == {"validated": 3, "rejected": 1}
    assert transfer.attempts.get(basis=bad).messages[0]["kode"] == "UKJENT_VARE"
    assert {_status(pk) for pk in [*ids, bad.pk]} == {BasisStatus.APPROVED}
    assert simulator.stats()["stored_total"] == 0
    # Test attempts never block a real transfer of the same bases.
    real = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=superbruker_a))
    assert states(real) == {"sent": 3, "rejected": 1}


def test_test_transfer_takes_at_most_20_approved_bases(kommune_a, visma_a, superbruker_a):
    ids = bulk_bases(kommune_a, 21)
    with pytest.raises(services.TransferError, match="20"):
        services.transfer_start(kommune_a, basis_ids=ids, actor=superbruker_a, test=True)
    received = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    with pytest.raises(services.TransferError):
        services.transfer_start(
            kommune_a, basis_ids=[ids[0], received.pk], actor=superbruker_a, test=True
        )
    assert not Transfer.objects.exists()


def test_expired_lease_is_resolved_through_hentstatus_before_any_resend(
    kommune_a, visma_a, simulator, merkantil_a, settings, wakeups
):
    settings.VISMA_BATCH_SIZE = 10
    bulk_bases(kommune_a, 20)
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    # Worker 1 claims and sends a batch, then dies before recording the reply.
    claim = delivery._claim(transfer.pk, "dead-worker")
    assert claim is not None
    soaps = load([a.basis_id for a in claim.attempts], context_for(kommune_a))
    batch = [s for s in soaps.values() if isinstance(s, SoapBasis)]
    assert len(batch) == 10
    client = get_client(visma_a.base_url, "demo", DEMO_PASSWORD)
    client.send("1", claim.batch_reference, batch, False)
    # Worker 2 claims the other batch, and dies before its call left the machine.
    claim2 = delivery._claim(transfer.pk, "dead-worker-2")
    assert claim2 is not None
    assert states(transfer) == {"in_flight": 20}

    settings.VISMA_LEASE_SECONDS = 0
    report = delivery.attempts_sweep()
    assert report["expired"] == 20
    assert states(transfer) == {"unknown": 20}
    assert wakeups and wakeups[-1][0] == transfer.pk

    run_transfer(transfer)
    assert states(transfer) == {"sent": 20}
    refs = per_ref(simulator.stats())
    assert {r["stored"] for r in refs.values()} == {1}
    assert {r["received"] for r in refs.values()} == {1}
    assert simulator.stats()["calls"]["SendFakturagrunnlag"] == 2


def test_failures_after_the_cap_are_failed_retryable_and_visible(
    kommune_a, visma_a, simulator, merkantil_a, settings
):
    settings.VISMA_MAX_SEND_ATTEMPTS = 3
    ids = bulk_bases(kommune_a, 4)
    simulator.set_faults(http_5xx_rate=1.0, operations=["SendFakturagrunnlag"])
    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    assert transfer.status == "failed"
    attempts = list(transfer.attempts.all())
    assert {a.state for a in attempts} == {AttemptState.FAILED}
    assert {a.send_count for a in attempts} == {3}
    assert all(a.retryable and "503" in a.last_error for a in attempts)
    assert {_status(pk) for pk in ids} == {BasisStatus.FAILED}
    # It may have passed: sent again from the transfer, never taken back to be edited.
    assert not InvoiceBasis.objects.filter(pk__in=ids, refused_by_receiver=True).exists()
    assert simulator.stats()["calls"]["SendFakturagrunnlag"] == 3

    simulator.set_faults(http_5xx_rate=0)
    retry = run_transfer(services.transfer_retry_failed(transfer, actor=merkantil_a))
    assert states(retry) == {"sent": 4}


def test_backoff_grows_and_is_capped(settings):
    settings.VISMA_RETRY_BASE_SECONDS = 10
    settings.VISMA_RETRY_MAX_SECONDS = 60
    values = [outcome.backoff_seconds(n) for n in range(1, 8)]
    assert 5 <= values[0] <= 10
    assert 10 <= values[1] <= 20
    assert all(30 <= v <= 60 for v in values[3:])


def test_invalid_request_is_split_to_find_the_bad_basis(
    kommune_a, visma_a, simulator, merkantil_a, monkeypatch
):
    """A Client fault refuses the whole call (nothing stored); halving finds the one basis it is
    about, so one bad basis does not fail the others."""
    ids = bulk_bases(kommune_a, 8)
    bad_reference = InvoiceBasis.objects.get(pk=ids[5]).reference
    references = [InvoiceBasis.objects.get(pk=pk).reference for pk in ids]
    calls: list[int] = []
    positions: list[list[int]] = []
    bunts: list[str] = []

    class PickyClient:
        """Visma refusing (UGYLDIG_FORESPORSEL) every call that carries the bad basis."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def status(self, *args: Any) -> Any:
            return self.inner.status(*args)

        def send(self, selskap: str, bunt: str, bases: Any, testmodus: bool) -> Any:
            calls.append(len(bases))
            bunts.append(bunt)
            positions.append(sorted(references.index(b.referanse) for b in bases))
            if any(b.referanse == bad_reference for b in bases):
                raise ClientFault("Ugyldig forespørsel", code="UGYLDIG_FORESPORSEL")
            return self.inner.send(selskap, bunt, bases, testmodus)

    real_client = services.client_for
    monkeypatch.setattr(services, "client_for", lambda vs: PickyClient(real_client(vs)))
    transfer = run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))

    assert states(transfer) == {"sent": 7, "rejected": 1}
    bad = transfer.attempts.get(basis_id=ids[5])
    assert bad.messages == [
        {"kode": "UGYLDIG_FORESPORSEL", "tekst": "Ugyldig forespørsel", "felt": ""}
    ]
    assert bad.send_count == 1
    assert simulator.stats()["stored_unique"] == 7
    assert simulator.stats()["stored_more_than_once"] == []
    # Halves in order: 0–3 go through, 4–7 fail again, 4–5 fail, 4 goes, 5 is refused alone, 6–7 go.
    assert calls == [8, 4, 4, 2, 1, 1, 2]
    assert positions == [
        list(range(8)), [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [4], [5], [6, 7]
    ]  # fmt: skip
    # Each half is its own call, named after the call it was split from.
    first = bunts[0]
    assert bunts == [first, *(first + s for s in ("a", "b", "ba", "baa", "bab", "bb"))]


def test_password_never_in_logs_during_a_failing_send(
    kommune_a, visma_a, simulator, merkantil_a, caplog
):
    secret = "Hemmelig-Passord-123"
    configure(kommune_a, simulator.url, password=secret)
    bulk_bases(kommune_a, 3)
    with caplog.at_level(logging.DEBUG):
        transfer = run_transfer(
            services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
        )
    assert transfer.status == "stopped"
    assert caplog.records, "the failing send must have been logged"
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert secret not in text
    assert factories.FNR_CLASSIC not in text
    for a in transfer.attempts.all():
        assert secret not in a.last_error
    assert secret not in transfer.stop_reason


def test_status_refresh_stores_invoice_number_kid_and_due_date(
    kommune_a, visma_a, simulator, merkantil_a
):
    ids = bulk_bases(kommune_a, 3)
    run_transfer(services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a))
    assert status.status_refresh(kommune_a, actor=merkantil_a) == 3
    assert set(BasisVismaStatus.objects.values_list("tilstand", flat=True)) == {"MOTTATT"}

    simulator.invoice("1")
    assert status.status_refresh(kommune_a) == 3
    rows = list(BasisVismaStatus.objects.filter(basis_id__in=ids))
    assert {r.tilstand for r in rows} == {"FAKTURERT"}
    for r in rows:
        assert r.fakturanummer and r.forfallsdato and r.fakturadato
        assert is_valid_kid(r.kid) and r.warnings == []
        assert r.belop_ore == 86000
    # Invoiced bases are not asked about again.
    assert status.status_refresh(kommune_a) == 0


def test_status_refresh_keeps_an_invalid_kid_as_a_warning(kommune_a, visma_a, monkeypatch):
    basis = factories.basis(kommune_a, status=BasisStatus.SENT)
    transfer = Transfer.objects.create(municipality=kommune_a, basis_count=1)
    TransferAttempt.objects.create(
        transfer=transfer, basis=basis, reference=basis.reference, state=AttemptState.SENT
    )
    from integrations.visma.types import StatusResult

    class FakeClient:
        def status(self, selskap: str, refs: list[str]) -> list[StatusResult]:
            return [
                StatusResult(r, "FAKTURERT", "G-1", "100001", kid="12345678", belop=1) for r in refs
            ]

    monkeypatch.setattr(services, "client_for", lambda vs: FakeClient())
    status.status_refresh(kommune_a)
    row = BasisVismaStatus.objects.get(basis=basis)
    assert row.kid == "12345678"
    assert any("KID" in w for w in row.warnings)
    assert any("Beløpet" in w for w in row.warnings)


def test_disabled_integration_refuses_to_start(kommune_a, visma_a, merkantil_a):
    factories.basis(kommune_a)
    visma_a.enabled = False
    visma_a.save()
    with pytest.raises(services.TransferError, match="ikke aktivert"):
        services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    assert _status(InvoiceBasis.objects.get().pk) == BasisStatus.APPROVED


def test_transfer_only_takes_the_municipalitys_own_bases(
    kommune_a, kommune_b, visma_a, simulator, merkantil_a
):
    mine = factories.basis(kommune_a)
    theirs = factories.basis(kommune_b)
    transfer = run_transfer(
        services.transfer_start(
            kommune_a, period="2026-10", basis_ids=[mine.pk, theirs.pk], actor=merkantil_a
        )
    )
    assert [a.basis_id for a in transfer.attempts.all()] == [mine.pk]
    assert _status(theirs.pk) == BasisStatus.APPROVED


# --- the sweeper and a stopped run, row by row -------------------------------------------------


def _attempt(transfer: Transfer, n: int) -> TransferAttempt:
    return transfer.attempts.order_by("id")[n]


def _set(attempt: TransferAttempt, **fields: Any) -> None:
    TransferAttempt.objects.filter(pk=attempt.pk).update(**fields)


def test_sweeper_takes_back_only_expired_leases(kommune_a, visma_a, merkantil_a, wakeups):
    """Lease 30 s: a row claimed 40 s ago is expired, one claimed 10 s ago is not, and a row
    that is not in flight is never touched, whatever its claim fields say."""
    ids = bulk_bases(kommune_a, 4)
    transfer = services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a)
    now = timezone.now()
    dead, busy, test_row, done = (_attempt(transfer, i) for i in range(4))
    an_hour_ago = now - timedelta(hours=1)
    held = {"state": AttemptState.IN_FLIGHT, "claimed_by": "w1", "next_attempt_at": an_hour_ago}
    _set(dead, **held, claimed_at=now - timedelta(seconds=40))
    _set(busy, **held, claimed_at=now - timedelta(seconds=10))
    _set(test_row, **held, claimed_at=now - timedelta(seconds=40), is_test=True)
    _set(done, state=AttemptState.SENT, claimed_by="w0", claimed_at=now - timedelta(hours=1))

    report = delivery.attempts_sweep(now=now)

    assert report == {"expired": 2, "woken": 1}
    assert wakeups == [(transfer.pk, 1, None)]
    dead.refresh_from_db()
    assert (dead.state, dead.status_check_required, dead.claimed_by, dead.claimed_at) == (
        AttemptState.UNKNOWN,
        True,
        "",
        None,
    )
    assert dead.next_attempt_at == now
    assert dead.last_error == (
        "Sendingen ble avbrutt (arbeideren stoppet); status hentes fra Visma før noe sendes på "
        "nytt."
    )
    # A test transfer stores nothing: its expired row is simply sent again.
    test_row.refresh_from_db()
    assert (test_row.state, test_row.claimed_by, test_row.claimed_at, test_row.next_attempt_at) == (
        AttemptState.PENDING,
        "",
        None,
        now,
    )
    assert not test_row.status_check_required
    busy.refresh_from_db()
    assert (busy.state, busy.claimed_by, busy.next_attempt_at) == (
        AttemptState.IN_FLIGHT,
        "w1",
        an_hour_ago,
    )
    done.refresh_from_db()
    assert (done.state, done.claimed_by) == (AttemptState.SENT, "w0")


def test_sweeper_wakes_only_transfers_stalled_past_the_grace(
    kommune_a, visma_a, merkantil_a, wakeups, settings
):
    settings.VISMA_SWEEP_GRACE_SECONDS = 60
    now = timezone.now()
    transfers = []
    for prefix in ("OLD", "NEW", "DONE"):
        ids = bulk_bases(kommune_a, 2, prefix=prefix)
        transfers.append(services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a))
    stalled, recent, finished_rows = transfers
    stalled.attempts.update(next_attempt_at=now - timedelta(seconds=61))
    recent.attempts.update(next_attempt_at=now - timedelta(seconds=59))
    # Final rows of a still active run are not work: only one live row, in flight.
    _set(_attempt(finished_rows, 0), state=AttemptState.SENT, next_attempt_at=now - timedelta(1))
    _set(_attempt(finished_rows, 1), state=AttemptState.IN_FLIGHT, claimed_at=now)

    report = delivery.attempts_sweep(now=now)

    assert report == {"expired": 0, "woken": 1}
    assert wakeups == [(stalled.pk, 1, None)]


def test_sweeper_finishes_runs_with_nothing_left_and_counts_them(
    kommune_a, visma_a, merkantil_a, wakeups
):
    runs = []
    for prefix in ("A", "B"):
        ids = bulk_bases(kommune_a, 1, prefix=prefix)
        run = services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a)
        run.attempts.update(state=AttemptState.SENT)
        runs.append(run)
    busy = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 1, prefix="C"), actor=merkantil_a
    )
    busy.attempts.update(state=AttemptState.IN_FLIGHT, claimed_at=timezone.now())

    now = timezone.now()
    Transfer.objects.filter(pk__in=[r.pk for r in runs]).update(wake_at=now)
    report = delivery.attempts_sweep(now=now)

    assert report["finished"] == 2
    for run in runs:
        run.refresh_from_db()
        assert (run.status, run.finished_at, run.counts) == ("done", now, {"sent": 1})
        assert run.wake_at is None
    assert Transfer.objects.get(pk=busy.pk).status == "queued"


def test_sweeper_resolves_stopped_runs_through_hentstatus(
    kommune_a, visma_a, simulator, merkantil_a, wakeups
):
    """Two stopped runs, each with one row Visma has (sent) and one it does not (failed,
    retryable), and a pending row that fails without a call. Nothing is sent."""
    client = get_client(visma_a.base_url, "demo", DEMO_PASSWORD)
    runs = []
    for prefix in ("S1", "S2"):
        ids = bulk_bases(kommune_a, 3, prefix=prefix)
        run = services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a)
        stored, unknown, pending = (_attempt(run, i) for i in range(3))
        soap = load([stored.basis_id], context_for(kommune_a))[stored.basis_id]
        assert isinstance(soap, SoapBasis)
        client.send("1", f"{prefix}-0001", [soap], False)
        for row in (stored, unknown):
            _set(row, state=AttemptState.UNKNOWN, status_check_required=True, last_error="")
        Transfer.objects.filter(pk=run.pk).update(status="stopped")
        runs.append((run, stored, unknown, pending))
    calls_before = simulator.stats()["calls"].get("SendFakturagrunnlag", 0)

    report = delivery.attempts_sweep()

    assert report["resolved"] == 4  # two looked-up rows in each run
    assert simulator.stats()["calls"].get("SendFakturagrunnlag", 0) == calls_before
    stopped_message = "Overføringen ble stoppet før grunnlaget ble sendt."
    for run, stored, unknown, pending in runs:
        stored.refresh_from_db()
        unknown.refresh_from_db()
        pending.refresh_from_db()
        assert (stored.state, stored.claimed_by) == (AttemptState.SENT, "")
        assert _status(stored.basis_id) == BasisStatus.SENT
        assert (unknown.state, unknown.retryable, unknown.last_error) == (
            AttemptState.FAILED,
            True,
            stopped_message,
        )
        assert (pending.state, pending.retryable, pending.last_error) == (
            AttemptState.FAILED,
            True,
            stopped_message,
        )
        assert pending.finished_at is not None
        assert {_status(unknown.basis_id), _status(pending.basis_id)} == {BasisStatus.FAILED}
        assert states(run) == {"sent": 1, "failed": 2}


def test_stopping_a_run_fails_its_pending_rows_and_nothing_else(
    kommune_a, visma_a, merkantil_a, wakeups
):
    bulk_bases(kommune_a, 5, prefix="DECOY", status=BasisStatus.RECEIVED)  # ids ≠ attempt ids
    ids = bulk_bases(kommune_a, 3, prefix="STOP")
    run = services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a)
    other = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 1, prefix="OTHER"), actor=merkantil_a
    )
    sent, uncertain, pending = (_attempt(run, i) for i in range(3))
    _set(sent, state=AttemptState.SENT)
    _set(uncertain, state=AttemptState.UNKNOWN, status_check_required=True)
    Transfer.objects.filter(pk=run.pk).update(wake_at=timezone.now())

    delivery._stop_transfer(run.pk, "Feil passord", "AUTENTISERING")

    run.refresh_from_db()
    assert (run.status, run.stop_reason, run.wake_at) == ("stopped", "Feil passord", None)
    assert run.finished_at is not None
    assert run.counts == {"sent": 1, "unknown": 1, "failed": 1}
    pending.refresh_from_db()
    assert (pending.state, pending.retryable, pending.last_error) == (
        AttemptState.FAILED,
        True,
        "Feil passord",
    )
    assert (pending.claimed_by, pending.claimed_at) == ("", None)
    assert pending.finished_at is not None
    assert _status(pending.basis_id) == BasisStatus.FAILED
    # The uncertain row waits for HentStatus; the sent one and the other run are left alone.
    assert TransferAttempt.objects.get(pk=uncertain.pk).state == AttemptState.UNKNOWN
    assert TransferAttempt.objects.get(pk=sent.pk).state == AttemptState.SENT
    assert Transfer.objects.get(pk=other.pk).status == "queued"
    assert set(other.attempts.values_list("state", flat=True)) == {AttemptState.PENDING}
    assert _status(_attempt(run, 1).basis_id) == BasisStatus.SENDING

    (event,) = AuditEvent.objects.filter(action="visma.transfer_stopped", object_id=str(run.pk))
    assert event.municipality == kommune_a
    assert event.data == {"code": "AUTENTISERING", "reason": "Feil passord"}
    # A second stop of a run that already ended changes nothing and records nothing.
    delivery._stop_transfer(run.pk, "Noe annet", "ANNET")
    run.refresh_from_db()
    assert (run.status, run.stop_reason) == ("stopped", "Feil passord")
    assert AuditEvent.objects.filter(action="visma.transfer_stopped").count() == 1


# --- what one attempt ends in (outcome.Outcome), without a call ---------------------------------


def _row(**fields: Any) -> TransferAttempt:
    return TransferAttempt(basis_id=fields.pop("basis_id", 7), claimed_by="w1", **fields)


def test_a_rejected_basis_is_failed_and_refused() -> None:
    result = outcome.Outcome()
    a = _row()
    result.rejected(a, [Melding("UKJENT_VARE", "Varen finnes ikke", "linje[1].varenr")], "AVVIST")
    assert (result.failed_bases, result.refused_bases, result.sent_bases) == ({7}, {7}, set())
    assert a.messages == [
        {"kode": "UKJENT_VARE", "tekst": "Varen finnes ikke", "felt": "linje[1].varenr"}
    ]
    assert (a.state, a.retryable, a.claimed_by) == (AttemptState.REJECTED, False, "")


def test_retry_later_gives_up_at_the_cap(settings: Any) -> None:
    settings.VISMA_MAX_SEND_ATTEMPTS = 3
    now = timezone.now()
    result = outcome.Outcome(now=now)
    below, at_cap = _row(basis_id=1, send_count=2), _row(basis_id=2, send_count=3)
    result.retry_later(below, "503")
    result.retry_later(at_cap, "503")
    assert (below.state, below.last_error, below.next_attempt_at) == (
        AttemptState.PENDING,
        "503",
        now,  # backoff is 0 s in these tests
    )
    assert (at_cap.state, at_cap.retryable, at_cap.last_error) == (
        AttemptState.FAILED,
        True,
        "Ga opp etter 3 forsøk: 503",
    )
    assert result.failed_bases == {2}


def test_a_stopped_run_leaves_uncertain_rows_to_hentstatus() -> None:
    result = outcome.Outcome()
    uncertain, plain = _row(basis_id=1, status_check_required=True), _row(basis_id=2)
    result.stopped(uncertain, "Feil passord")
    result.stopped(plain, "Feil passord")
    assert (uncertain.state, uncertain.status_check_required, uncertain.last_error) == (
        AttemptState.UNKNOWN,
        True,
        "Feil passord",
    )
    assert (plain.state, plain.retryable, plain.last_error) == (
        AttemptState.FAILED,
        True,
        "Feil passord",
    )
    assert result.failed_bases == {2}


def test_sweeper_fails_what_a_stopped_run_left_pending_without_a_lookup(
    kommune_a, visma_a, simulator, merkantil_a, wakeups
):
    run = services.transfer_start(kommune_a, basis_ids=bulk_bases(kommune_a, 2), actor=merkantil_a)
    Transfer.objects.filter(pk=run.pk).update(status="stopped")

    report = delivery.attempts_sweep()

    assert report["resolved"] == 0  # nothing was uncertain, so nothing was looked up
    assert simulator.stats()["calls"].get("HentStatus", 0) == 0
    run.refresh_from_db()
    assert run.counts == {"failed": 2}


def test_sweeper_keeps_uncertain_rows_when_hentstatus_is_refused(
    kommune_a, visma_a, simulator, merkantil_a, wakeups
):
    """Wrong password while resolving a stopped run: the row stays unknown, released, with the
    reason, to be looked up again once the settings are fixed."""
    run = services.transfer_start(kommune_a, basis_ids=bulk_bases(kommune_a, 1), actor=merkantil_a)
    row = _attempt(run, 0)
    _set(row, state=AttemptState.UNKNOWN, status_check_required=True)
    Transfer.objects.filter(pk=run.pk).update(status="stopped")
    configure(kommune_a, simulator.url, password="wrong-password")

    assert delivery.attempts_sweep()["resolved"] == 1

    row.refresh_from_db()
    assert (row.state, row.status_check_required, row.claimed_by) == (
        AttemptState.UNKNOWN,
        True,
        "",
    )
    assert "passord" in row.last_error
    assert _status(row.basis_id) == BasisStatus.SENDING


class StubClient:
    """A Visma client that answers as told, for replies the simulator does not give."""

    def __init__(self, *, send: Any = None, status: Any = None) -> None:
        self._send, self._status = send, status

    def send(self, selskap: str, bunt: str, bases: Any, testmodus: bool) -> Any:
        return self._send(bases)

    def status(self, selskap: str, referanser: list[str]) -> Any:
        return self._status(referanser)


def _raise(error: Exception) -> Any:
    def call(*_args: Any) -> Any:
        raise error

    return call


def test_a_stop_without_a_code_is_audited_with_the_error_kind(
    kommune_a, visma_a, merkantil_a, monkeypatch
):
    failing = StubClient(send=_raise(AuthenticationFailed("Nei")))
    monkeypatch.setattr(services, "client_for", lambda vs: failing)
    transfer = run_transfer(
        services.transfer_start(kommune_a, basis_ids=bulk_bases(kommune_a, 1), actor=merkantil_a)
    )
    assert (transfer.status, transfer.stop_reason) == (
        "stopped",
        "Feil brukernavn eller passord: Nei",
    )
    event = AuditEvent.objects.get(action="visma.transfer_stopped", object_id=str(transfer.pk))
    assert event.data == {"code": "AuthenticationFailed", "reason": transfer.stop_reason}


def test_another_client_fault_fails_the_bases_without_halving(
    kommune_a, visma_a, merkantil_a, monkeypatch
):
    calls: list[int] = []

    def refuse(bases: Any) -> Any:
        calls.append(len(bases))
        raise ClientFault("Bunten er for stor", code="FOR_STOR_BUNT")

    monkeypatch.setattr(services, "client_for", lambda vs: StubClient(send=refuse))
    ids = bulk_bases(kommune_a, 3)
    transfer = run_transfer(services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a))
    assert calls == [3]
    assert {(a.state, a.retryable, a.last_error) for a in transfer.attempts.all()} == {
        (AttemptState.FAILED, True, "Bunten er for stor")
    }
    assert {_status(pk) for pk in ids} == {BasisStatus.FAILED}


def test_an_overloaded_visma_is_retried_without_a_status_lookup(
    kommune_a, visma_a, simulator, merkantil_a
):
    """HTTP 503 says the call was not taken: the row waits for its retry, with no HentStatus."""
    simulator.set_faults(http_5xx_rate=1.0, operations=["SendFakturagrunnlag"])
    transfer = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 1), actor=merkantil_a
    )
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    delivery._deliver(claim)
    (row,) = transfer.attempts.all()
    assert (row.state, row.status_check_required, row.send_count) == (
        AttemptState.PENDING,
        False,
        1,
    )
    assert "503" in row.last_error
    assert simulator.stats()["calls"].get("HentStatus", 0) == 0


def test_an_unknown_company_met_by_hentstatus_stops_the_run(
    kommune_a, visma_a, simulator, merkantil_a
):
    transfer = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 1), actor=merkantil_a
    )
    _set(_attempt(transfer, 0), state=AttemptState.UNKNOWN, status_check_required=True)
    configure(kommune_a, simulator.url, selskap="77")

    delivery.transfer_process(transfer.pk)

    transfer.refresh_from_db()
    assert transfer.status == "stopped"
    assert transfer.stop_reason.startswith("Ukjent selskap «77»: selskapet finnes ikke i Visma")
    event = AuditEvent.objects.get(action="visma.transfer_stopped", object_id=str(transfer.pk))
    assert event.data["code"] == "UKJENT_SELSKAP"
    # Visma may have it: the row waits for a lookup, it is not failed.
    assert _attempt(transfer, 0).state == AttemptState.UNKNOWN


def test_a_failed_lookup_waits_longer_each_time(
    kommune_a, visma_a, simulator, merkantil_a, settings, monkeypatch
):
    settings.VISMA_RETRY_BASE_SECONDS = 10
    settings.VISMA_RETRY_MAX_SECONDS = 1000
    monkeypatch.setattr(outcome.random, "uniform", lambda low, high: high)  # no jitter
    simulator.set_faults(http_5xx_rate=1.0, operations=["HentStatus"])
    transfer = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 1), actor=merkantil_a
    )
    row = _attempt(transfer, 0)
    # Looked up three times before; sent once.
    _set(row, state=AttemptState.UNKNOWN, status_check_required=True, status_checks=3, send_count=1)

    before = timezone.now()
    delivery.transfer_process(transfer.pk)
    after = timezone.now()

    row.refresh_from_db()
    assert (row.state, row.status_checks) == (AttemptState.UNKNOWN, 4)
    assert row.last_error.startswith("Status kunne ikke hentes: Visma er overbelastet")
    # The fourth lookup's step: 10 s × 2³, not the send count's 10 s.
    assert before + timedelta(seconds=80) <= row.next_attempt_at <= after + timedelta(seconds=80)


def test_a_status_reply_that_does_not_match_the_question_is_an_error(visma_a):
    rows = [_row(basis_id=1, reference="R1"), _row(basis_id=2, reference="R2")]
    one_answer = StubClient(status=lambda refs: [StatusResult(referanse="R1", tilstand="MOTTATT")])
    with pytest.raises(ValueError):
        delivery._resolve(one_answer, visma_a, rows, outcome.Outcome())


def test_backoff_doubles_from_the_base_up_to_the_cap(settings, monkeypatch):
    monkeypatch.setattr(outcome.random, "uniform", lambda low, high: (low, high))
    settings.VISMA_RETRY_BASE_SECONDS = 10
    settings.VISMA_RETRY_MAX_SECONDS = 100
    assert [outcome.backoff_seconds(n) for n in (0, 1, 2, 3, 4, 5)] == [
        (5, 10), (5, 10), (10, 20), (20, 40), (40, 80), (50, 100)
    ]  # fmt: skip
    # The exponent stops at 30, so a huge attempt count cannot overflow the float.
    settings.VISMA_RETRY_BASE_SECONDS = 1
    settings.VISMA_RETRY_MAX_SECONDS = 10**12
    assert outcome.backoff_seconds(40) == (2**29, 2**30)


def test_waits_start_from_the_outcome_and_grow_with_the_sends(settings, monkeypatch):
    settings.VISMA_RETRY_BASE_SECONDS = 10
    settings.VISMA_RETRY_MAX_SECONDS = 1000
    monkeypatch.setattr(outcome.random, "uniform", lambda low, high: high)
    now = timezone.now()
    result = outcome.Outcome(now=now)
    never_sent, sent_twice = _row(basis_id=1, send_count=0), _row(basis_id=2, send_count=2)
    retried = _row(basis_id=3, send_count=2, status_check_required=True)
    result.unknown(never_sent, "?")
    result.unknown(sent_twice, "?")
    result.retry_later(retried, "503")
    assert never_sent.next_attempt_at == now + timedelta(seconds=10)
    assert sent_twice.next_attempt_at == now + timedelta(seconds=20)
    assert retried.next_attempt_at == now + timedelta(seconds=20)
    # A retry is of a call that surely did not arrive: no lookup first.
    assert not retried.status_check_required


# --- the protocol's other branches, one by one ---------------------------------------------------


def _one_basis_transfer(
    kommune_a: Any, actor: Any, *, test: bool = False, prefix: str = "BULK"
) -> Transfer:
    return services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 1, prefix=prefix), actor=actor, test=test
    )


@pytest.mark.parametrize(
    ("setup", "reason", "code"),
    [
        ("disabled", "Integrasjonen til Visma er slått av.", "DEAKTIVERT"),
        ("secret", "Passordet kan ikke leses", "NOKKEL"),
        ("config", "Fant ikke tjenesten", "HTTP_404"),
        (
            "company",
            "Ukjent selskap «1»: selskapet finnes ikke i Visma, eller brukeren har ikke tilgang "
            "til det. (Nei)",
            "UKJENT_SELSKAP",
        ),
    ],
)
def test_a_run_that_cannot_reach_visma_stops_before_any_call(
    kommune_a, visma_a, simulator, merkantil_a, monkeypatch, setup, reason, code
):
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    if setup == "disabled":
        VismaSettings.objects.filter(pk=visma_a.pk).update(enabled=False)
    else:
        errors = {
            "secret": SecretUnreadable(reason),
            "config": ConfigurationError(reason, code=code),
            "company": ClientFault("Nei", code=code),
        }
        monkeypatch.setattr(services, "client_for", _raise(errors[setup]))

    delivery.transfer_process(transfer.pk)

    transfer.refresh_from_db()
    assert (transfer.status, transfer.stop_reason) == ("stopped", reason)
    event = AuditEvent.objects.get(action="visma.transfer_stopped", object_id=str(transfer.pk))
    assert event.data == {"code": code, "reason": reason}
    assert states(transfer) == {"failed": 1}
    assert simulator.stats()["calls"].get("SendFakturagrunnlag", 0) == 0


def test_a_basis_that_is_gone_fails_for_good(kommune_a, visma_a, merkantil_a, monkeypatch):
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    monkeypatch.setattr(delivery.mapping, "load", lambda ids, context: {})
    run_transfer(transfer)
    (row,) = transfer.attempts.all()
    assert (row.state, row.retryable, row.last_error) == (
        AttemptState.FAILED,
        False,
        "Grunnlaget finnes ikke lenger.",
    )


@pytest.mark.parametrize("test", [False, True])
def test_unexpected_trouble_leaves_real_rows_to_hentstatus(
    kommune_a, visma_a, merkantil_a, superbruker_a, monkeypatch, test
):
    transfer = _one_basis_transfer(kommune_a, superbruker_a if test else merkantil_a, test=test)
    monkeypatch.setattr(delivery.mapping, "load", _raise(RuntimeError("bug")))
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    with pytest.raises(RuntimeError):
        delivery._deliver(claim)
    (row,) = transfer.attempts.all()
    if test:  # a test transfer stores nothing: simply try again
        assert (row.state, row.last_error) == (AttemptState.PENDING, "Uventet feil under sending")
    else:
        assert (row.state, row.status_check_required, row.last_error) == (
            AttemptState.UNKNOWN,
            True,
            "Uventet feil under sending; status hentes fra Visma.",
        )
    assert row.claimed_by == ""


def test_a_row_at_the_send_cap_is_failed_instead_of_sent(
    kommune_a, visma_a, simulator, merkantil_a, settings
):
    settings.VISMA_MAX_SEND_ATTEMPTS = 3
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    transfer.attempts.update(send_count=3)
    run_transfer(transfer)
    (row,) = transfer.attempts.all()
    assert (row.state, row.retryable, row.last_error, row.send_count) == (
        AttemptState.FAILED,
        True,
        "For mange forsøk.",
        3,
    )
    assert simulator.stats()["calls"].get("SendFakturagrunnlag", 0) == 0


@pytest.mark.parametrize(
    ("test", "reply", "state", "message"),
    [
        (False, "VALIDERT", AttemptState.UNKNOWN, "Uventet svar fra Visma: VALIDERT"),
        (True, "MOTTATT", AttemptState.FAILED, "Uventet svar i testmodus: MOTTATT"),
    ],
)
def test_a_reply_the_contract_does_not_allow_is_not_guessed(
    kommune_a, visma_a, merkantil_a, superbruker_a, monkeypatch, test, reply, state, message
):
    transfer = _one_basis_transfer(kommune_a, superbruker_a if test else merkantil_a, test=test)
    answer = StubClient(send=lambda bases: [SendResult(b.referanse, reply) for b in bases])
    monkeypatch.setattr(services, "client_for", lambda vs: answer)
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    delivery._deliver(claim)
    (row,) = transfer.attempts.all()
    assert (row.state, row.last_error) == (state, message)
    assert row.status_check_required is (state == AttemptState.UNKNOWN)


def test_a_send_reply_for_fewer_bases_than_sent_is_an_error(
    kommune_a, visma_a, merkantil_a, monkeypatch
):
    transfer = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 2), actor=merkantil_a
    )
    short = StubClient(send=lambda bases: [SendResult(bases[0].referanse, "MOTTATT")])
    monkeypatch.setattr(services, "client_for", lambda vs: short)
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    with pytest.raises(ValueError):
        delivery._deliver(claim)
    # The answered one is recorded; the other may be stored too: it waits for a lookup.
    assert states(transfer) == {"sent": 1, "unknown": 1}


def test_a_lost_reply_waits_the_settling_delay(
    kommune_a, visma_a, simulator, merkantil_a, settings
):
    settings.VISMA_STATUS_SETTLE_SECONDS = 30
    simulator.set_faults(drop_reply_rate=1.0, operations=["SendFakturagrunnlag"])
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    before = timezone.now()
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    delivery._deliver(claim)
    (row,) = transfer.attempts.all()
    assert row.state == AttemptState.UNKNOWN
    assert row.last_error.startswith("Svaret fra Visma gikk tapt: ")
    assert row.last_error.endswith(" Status hentes før noe sendes på nytt.")
    assert row.next_attempt_at >= before + timedelta(seconds=30)


def test_what_a_send_records_on_its_rows_and_run(kommune_a, visma_a, simulator, merkantil_a):
    """A 503, then a send that is taken: the first send's time stays, the error is cleared, the
    call is timed, and the finished run says what it did."""
    simulator.set_faults(http_5xx_rate=1.0, operations=["SendFakturagrunnlag"])
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    delivery._deliver(claim)
    (row,) = transfer.attempts.all()
    first = row.first_sent_at
    assert first is not None and row.last_sent_at == first and row.last_call_ms is not None

    simulator.set_faults(http_5xx_rate=0)
    transfer = run_transfer(transfer)
    row.refresh_from_db()
    assert (row.state, row.last_error, row.send_count) == (AttemptState.SENT, "", 2)
    assert row.first_sent_at == first < row.last_sent_at
    assert row.finished_at is not None and not row.status_check_required
    assert 0 <= row.last_call_ms < 60_000
    assert simulator.stats()["calls"].get("HentStatus", 0) == 0  # MOTTATT needs no lookup
    assert transfer.started_at is not None and transfer.finished_at is not None
    event = AuditEvent.objects.get(action="visma.transfer_finished", object_id=str(transfer.pk))
    assert event.municipality == kommune_a
    assert event.data == {"test": False, "status": "done", "counts": {"sent": 1}}


def test_a_worker_out_of_time_hands_the_run_on(kommune_a, visma_a, simulator, merkantil_a, wakeups):
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    delivery.transfer_process(transfer.pk, time_budget=-1)
    assert wakeups == [(transfer.pk, 1, None)]
    assert states(transfer) == {"pending": 1}


def test_settle_finishes_only_its_own_run(kommune_a, visma_a, merkantil_a, wakeups):
    done = _one_basis_transfer(kommune_a, merkantil_a)
    done.attempts.update(state=AttemptState.SENT)
    _one_basis_transfer(kommune_a, merkantil_a, prefix="OTHER")  # another run, still pending
    delivery._settle(done.pk)
    assert Transfer.objects.get(pk=done.pk).status == "done"


def test_settle_leaves_rows_in_flight_to_their_worker(kommune_a, visma_a, merkantil_a, wakeups):
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    transfer.attempts.update(state=AttemptState.IN_FLIGHT, claimed_by="w1")
    delivery._settle(transfer.pk)
    assert wakeups == []
    assert Transfer.objects.get(pk=transfer.pk).wake_at is None


def test_settle_schedules_one_wake_up_for_the_earliest_retry(
    kommune_a, visma_a, merkantil_a, wakeups
):
    transfer = services.transfer_start(
        kommune_a, basis_ids=bulk_bases(kommune_a, 2), actor=merkantil_a
    )
    other = _one_basis_transfer(kommune_a, merkantil_a, prefix="OTHER")
    due = timezone.now() + timedelta(seconds=40)
    transfer.attempts.update(next_attempt_at=due)
    _set(_attempt(transfer, 1), next_attempt_at=due + timedelta(seconds=60))
    # A wake-up set for later than needed is moved to the earliest retry.
    Transfer.objects.filter(pk=transfer.pk).update(wake_at=due + timedelta(hours=1))
    delivery._settle(transfer.pk)
    delivery._settle(transfer.pk)  # a second worker finds the wake-up already set
    transfer.refresh_from_db()
    assert transfer.wake_at == due
    ((pk, copies, countdown),) = wakeups
    assert (pk, copies) == (transfer.pk, 1)
    assert countdown is not None and 35 < countdown <= 40
    assert Transfer.objects.get(pk=other.pk).wake_at is None


def test_settle_wakes_at_once_for_a_retry_already_due(kommune_a, visma_a, merkantil_a, wakeups):
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    transfer.attempts.update(next_attempt_at=timezone.now() - timedelta(seconds=5))
    delivery._settle(transfer.pk)
    assert wakeups == [(transfer.pk, 1, None)]


def test_a_call_is_timed_in_milliseconds(monkeypatch):
    monkeypatch.setattr(delivery.time, "monotonic", lambda: 101.5)
    row = _row()
    delivery._record_call_ms([(row, None)], started=100.0)  # type: ignore[list-item]
    assert row.last_call_ms == 1500


def test_a_worker_stores_the_runs_counts_as_it_goes(
    kommune_a, visma_a, simulator, merkantil_a, monkeypatch
):
    monkeypatch.setattr(delivery, "_counts_refreshed", {})
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    claim = delivery._claim(transfer.pk, "w1")
    assert claim is not None
    delivery._deliver(claim)
    assert Transfer.objects.get(pk=transfer.pk).counts == {"sent": 1}


def test_rows_refused_alike_keep_their_own_messages(kommune_a, visma_a, merkantil_a, monkeypatch):
    ids = bulk_bases(kommune_a, 2)
    codes = iter(["UKJENT_VARE", "UGYLDIG_BELOP"])
    refuse = StubClient(
        send=lambda bases: [
            SendResult(b.referanse, "AVVIST", meldinger=(Melding(next(codes), "Nei"),))
            for b in bases
        ]
    )
    monkeypatch.setattr(services, "client_for", lambda vs: refuse)
    transfer = run_transfer(services.transfer_start(kommune_a, basis_ids=ids, actor=merkantil_a))
    assert [a.messages for a in transfer.attempts.order_by("id")] == [
        [{"kode": "UKJENT_VARE", "tekst": "Nei", "felt": ""}],
        [{"kode": "UGYLDIG_BELOP", "tekst": "Nei", "felt": ""}],
    ]


def test_settle_fails_what_a_run_stopped_meanwhile_left_pending(
    kommune_a, visma_a, merkantil_a, wakeups
):
    transfer = _one_basis_transfer(kommune_a, merkantil_a)
    _one_basis_transfer(kommune_a, merkantil_a, prefix="OTHER")  # still active
    Transfer.objects.filter(pk=transfer.pk).update(status="stopped")
    delivery._settle(transfer.pk)
    (row,) = transfer.attempts.all()
    assert (row.state, row.last_error) == (
        AttemptState.FAILED,
        "Overføringen ble stoppet før grunnlaget ble sendt.",
    )
    assert row.finished_at is not None
    assert Transfer.objects.get(pk=transfer.pk).counts == {"failed": 1}
