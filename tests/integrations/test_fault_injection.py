"""1 000 bases through 20 % mixed faults (lost replies after storing among them): every basis ends
stored exactly once, and the product's states match what Visma has."""

from __future__ import annotations

import pytest

from integrations import services
from integrations.models import AttemptState
from invoices.models import BasisStatus, InvoiceBasis
from tests.integrations.helpers import bulk_bases, per_ref, run_transfer, states

MIXED_FAULTS = {
    "http_429_rate": 0.03,
    "http_5xx_rate": 0.04,
    "server_fault_rate": 0.03,
    "reset_rate": 0.03,
    "timeout_rate": 0.02,
    "drop_reply_rate": 0.03,
    "garbled_rate": 0.02,
    "timeout_seconds": 0.7,
}


@pytest.mark.parametrize("seed", [7, 42])
def test_thousand_bases_through_mixed_faults_are_stored_exactly_once(
    kommune_a, visma_a, simulator, merkantil_a, settings, seed
):
    settings.VISMA_READ_TIMEOUT = 0.5
    settings.VISMA_BATCH_SIZE = 25
    settings.VISMA_MAX_SEND_ATTEMPTS = 30  # the cap is tested elsewhere; here everything lands
    ids = bulk_bases(kommune_a, 1000)
    simulator.set_faults(seed=seed, **MIXED_FAULTS)
    transfer = services.transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    run_transfer(transfer, rounds=400)
    injected = simulator.stats()["faults_injected"]
    simulator.set_faults(**{k: 0.0 for k in MIXED_FAULTS if k.endswith("_rate")})

    assert transfer.status == "done"
    assert states(transfer) == {AttemptState.SENT: 1000}
    stats = simulator.stats()
    print("faults injected:", injected)
    assert sum(injected.values()) >= 5, injected
    assert injected["drop_reply"] >= 1, injected  # stored, then the reply was lost
    assert stats["stored_unique"] == 1000
    assert stats["stored_more_than_once"] == []
    refs = per_ref(stats)
    assert len(refs) == 1000
    assert {r["stored"] for r in refs.values()} == {1}
    # Visma's stored set is exactly the product's sent set, and nothing is left in between.
    sent_refs = set(transfer.attempts.values_list("reference", flat=True))
    assert set(refs) == sent_refs
    assert set(InvoiceBasis.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        BasisStatus.SENT
    }
    grunnlag = dict(transfer.attempts.values_list("reference", "grunnlag_id"))
    assert all(grunnlag.values())
