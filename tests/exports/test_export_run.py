"""Export runs end to end: what is written, what is locked, and what happens when it must not."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from exports import findings, run
from exports.models import Export, ExportItem, ExportProfile, ExportStatus
from exports.run import export_run
from exports.services import ExportBusy, export_create, exports_resume_stale
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.exports.helpers import (
    DIMS,
    file_bytes,
    month,
    read_agresso,
    read_visma,
    run_export,
    sha256_of,
    stored_files,
)

pytestmark = pytest.mark.django_db


def _statuses(*bases: InvoiceBasis) -> list[str]:
    return [InvoiceBasis.objects.get(pk=b.pk).status for b in bases]


def test_visma_export_writes_the_approved_bases_and_locks_them(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    bases = month(kommune_a)
    exported = [bases["two_lines"], bases["other_unit"], bases["credit"]]
    expected_total = sum(b.total_ore for b in exported)

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.DONE, export.failure
    assert export.file_name == "VISMA_9999_202610_001.txt"
    assert (export.count, export.total_ore) == (3, expected_total)
    data = file_bytes(export)
    assert export.sha256 == sha256_of(data) and export.size_bytes == len(data)
    parsed = read_visma(export)
    assert parsed.total_ore == expected_total
    assert parsed.record_count == export.records
    assert {line.order_ref for line in parsed.lines} == {b.reference for b in exported}
    credit_lines = [line for line in parsed.lines if line.order_ref == bases["credit"].reference]
    assert [line.amount_ore for line in credit_lines] == [-21500]
    assert _statuses(*exported) == [BasisStatus.EXPORTED] * 3
    assert _statuses(bases["received"], bases["other_period"]) == [
        BasisStatus.RECEIVED,
        BasisStatus.APPROVED,
    ]
    assert set(export.items.values_list("basis_id", flat=True)) == {b.pk for b in exported}
    assert AuditEvent.objects.filter(action="export.done", object_id=str(export.pk)).exists()


def test_agresso_export_takes_one_order_id_per_basis_from_the_series(
    kommune_a: Municipality, merkantil_a: Any, agresso_profile: ExportProfile
) -> None:
    bases = month(kommune_a)
    exported = [bases["two_lines"], bases["other_unit"], bases["credit"]]

    export = run_export(kommune_a, merkantil_a, fmt="agresso")

    assert export.status == ExportStatus.DONE, (export.failure, export.findings)
    assert export.file_name == "AGRESSO_LG04_9999_202610_001.txt"
    assert export.batch_id.startswith("AIDN" + timezone.localdate().strftime("%y%m%d"))
    orders = read_agresso(export)
    assert [o.order_id for o in orders] == [380_000_000, 380_000_001, 380_000_002]
    assert [o.ext_ord_ref for o in orders] == [b.reference for b in exported]
    assert (
        sum(o.total_ore for o in orders) == export.total_ore == sum(b.total_ore for b in exported)
    )
    assert orders[2].total_ore == -21500
    assert {o.text3 for o in orders} >= {factories.FNR_CLASSIC, factories.FNR_OTHER}
    assert (export.order_id_first, export.order_id_last) == (380_000_000, 380_000_002)
    items = dict(ExportItem.objects.filter(export=export).values_list("basis_id", "order_id"))
    assert items == {b.pk: o.order_id for b, o in zip(exported, orders, strict=True)}
    agresso_profile.refresh_from_db()
    assert agresso_profile.order_id_next == 380_000_003
    assert _statuses(*exported) == [BasisStatus.EXPORTED] * 3


def test_order_ids_are_never_reused_across_exports(
    kommune_a: Municipality, merkantil_a: Any, agresso_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    first = run_export(kommune_a, merkantil_a, fmt="agresso")
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    second = run_export(kommune_a, merkantil_a, fmt="agresso")

    assert first.status == second.status == ExportStatus.DONE
    ids_first = [o.order_id for o in read_agresso(first)]
    ids_second = [o.order_id for o in read_agresso(second)]
    assert ids_first == [380_000_000]
    assert ids_second == [380_000_001, 380_000_002]
    assert second.file_name.endswith("_002.txt")
    assert first.batch_id != second.batch_id


def test_exhausted_series_refuses_before_anything_is_written(
    kommune_a: Municipality,
    merkantil_a: Any,
    agresso_profile: ExportProfile,
    media_root: Path,
) -> None:
    ExportProfile.objects.filter(pk=agresso_profile.pk).update(
        order_id_start=500, order_id_end=501, order_id_next=500
    )
    bases = [factories.basis(kommune_a, lines=[{"dimensions": DIMS}]) for _ in range(3)]

    export = run_export(kommune_a, merkantil_a, fmt="agresso")

    assert export.status == ExportStatus.REFUSED
    assert [f["code"] for f in export.errors] == ["order_series_exhausted"]
    message = str(export.errors[0]["message"])
    assert "trenger 3 nummer" in message and "bare 2 er igjen" in message
    assert stored_files(media_root) == []
    assert not export.file and export.seq is None
    assert _statuses(*bases) == [BasisStatus.APPROVED] * 3
    assert ExportProfile.objects.get(pk=agresso_profile.pk).order_id_next == 500
    assert not ExportItem.objects.exists()


def test_refused_export_writes_nothing_and_changes_no_status(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile, media_root: Path
) -> None:
    good = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    unmapped = factories.service(kommune_a, "UKJENT", visma_vare="", name="Uten vare")
    bad = factories.basis(kommune_a, lines=[{"service": unmapped}])

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.REFUSED
    assert export.error_count >= 1
    assert any(f["code"] == "unknown_vare" and f["basis_pk"] == bad.pk for f in export.errors), (
        export.findings
    )
    assert stored_files(media_root) == []
    assert _statuses(good, bad) == [BasisStatus.APPROVED] * 2
    assert not ExportItem.objects.exists()
    assert (export.file_name, export.sha256) == ("", "")
    assert AuditEvent.objects.filter(action="export.refused", object_id=str(export.pk)).exists()


def test_basis_whose_lines_do_not_add_up_is_refused(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    InvoiceBasis.objects.filter(pk=basis.pk).update(total_ore=basis.total_ore + 1)

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.REFUSED
    assert {f["code"] for f in export.errors} == {"total_mismatch"}
    assert _statuses(basis) == [BasisStatus.APPROVED]


def test_empty_selection_is_refused(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    export = run_export(kommune_a, merkantil_a, period="2030-01")
    assert export.status == ExportStatus.REFUSED
    assert [f["code"] for f in export.errors] == ["empty_selection"]


def test_transliteration_is_a_kept_warning_not_an_error(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    payer = factories.party(kommune_a, factories.FNR_2032, name="Máret Čáhppesŋ Đuolbma")
    basis = factories.basis(kommune_a, payer=payer, lines=[{"dimensions": DIMS}])

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.DONE
    assert [(f["code"], f["basis_pk"]) for f in export.warnings] == [("transliterated", basis.pk)]
    assert export.warning_count == 1
    assert payer.name in InvoiceBasis.objects.get(pk=basis.pk).payer.name  # the database keeps it
    assert read_visma(export).lines[0].name.startswith("Máret Cáhppesn")


def test_unit_selection_exports_only_that_unit(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    bases = month(kommune_a)
    unit = bases["other_unit"].unit

    export = run_export(kommune_a, merkantil_a, unit=unit)

    assert export.status == ExportStatus.DONE
    assert list(export.items.values_list("basis_id", flat=True)) == [bases["other_unit"].pk]
    assert _statuses(bases["two_lines"]) == [BasisStatus.APPROVED]


def test_zero_amount_bases_can_be_left_out(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    ExportProfile.objects.filter(pk=visma_profile.pk).update(include_zero_amount=False)
    paid = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    free = factories.basis(kommune_a, lines=[{"quantity": "0", "dimensions": DIMS}])

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.DONE
    assert export.count == 1
    assert [f["code"] for f in export.warnings] == ["zero_amount_skipped"]
    assert _statuses(paid, free) == [BasisStatus.EXPORTED, BasisStatus.APPROVED]


def test_running_a_finished_export_again_changes_nothing(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = run_export(kommune_a, merkantil_a)
    before = (file_bytes(export), AuditEvent.objects.count())

    again = export_run(export.pk)

    assert again.status == ExportStatus.DONE
    assert (file_bytes(again), AuditEvent.objects.count()) == before


def test_a_live_run_is_not_raced_and_a_dead_one_is_taken_over(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile, media_root: Path
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    other = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )
    # A worker claimed it, recorded part of the set and started a file, then died.
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING,
        run_token="dead",
        lease_until=timezone.now() + datetime.timedelta(minutes=5),
    )
    ExportItem.objects.create(
        export=export, basis=basis, total_ore=1, content_hash="x", basis_status="approved"
    )
    leftover = media_root / "exports" / "tmp" / f"{export.pk}-dead.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a file")

    with pytest.raises(ExportBusy):
        export_run(export.pk)

    Export.objects.filter(pk=export.pk).update(
        lease_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    resumed = export_run(export.pk)

    assert resumed.status == ExportStatus.DONE
    assert resumed.count == 2
    assert not leftover.exists()
    assert _statuses(basis, other) == [BasisStatus.EXPORTED] * 2


def test_stale_exports_are_handed_back_to_the_queue(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    queued = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )
    fresh = export_create(
        kommune_a, period="2026-11", fmt="visma", actor=merkantil_a, enqueue=False
    )
    Export.objects.filter(pk=queued.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=1)
    )
    seen: list[int] = []

    assert exports_resume_stale(enqueue=seen.append) == 1
    assert seen == [queued.pk]
    assert fresh.pk not in seen


def test_a_basis_changed_while_writing_aborts_the_whole_export(
    kommune_a: Municipality,
    merkantil_a: Any,
    visma_profile: ExportProfile,
    media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    second = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    original = run._Run._check_written

    def withdraw_meanwhile(self: Any, written: Any) -> None:
        original(self, written)
        InvoiceBasis.objects.filter(pk=second.pk).update(status=BasisStatus.RECEIVED)

    monkeypatch.setattr(run._Run, "_check_written", withdraw_meanwhile)

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.FAILED
    assert second.reference in export.failure
    assert _statuses(first, second) == [BasisStatus.APPROVED, BasisStatus.RECEIVED]
    assert stored_files(media_root) == []
    assert not export.file and not ExportItem.objects.exists()


def test_a_run_that_lost_its_lease_cannot_commit(
    kommune_a: Municipality,
    merkantil_a: Any,
    visma_profile: ExportProfile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    original = run._Run._check_written

    def taken_over(self: Any, written: Any) -> None:
        original(self, written)
        Export.objects.filter(pk=self.export.pk).update(run_token="someone-else")

    monkeypatch.setattr(run._Run, "_check_written", taken_over)

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.RUNNING  # the new owner finishes it
    assert _statuses(basis) == [BasisStatus.APPROVED]


def test_double_click_returns_the_export_already_asked_for(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    one = export_create(kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False)
    two = export_create(kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False)
    assert one.pk == two.pk
    assert Export.objects.count() == 1


def test_sequence_numbers_count_per_period_and_format(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    factories.basis(kommune_a, period="2026-11", lines=[{"dimensions": DIMS}])
    october = run_export(kommune_a, merkantil_a)
    november = run_export(kommune_a, merkantil_a, period="2026-11")
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    october_again = run_export(kommune_a, merkantil_a)

    assert [october.file_name, november.file_name, october_again.file_name] == [
        "VISMA_9999_202610_001.txt",
        "VISMA_9999_202611_001.txt",
        "VISMA_9999_202610_002.txt",
    ]


def test_test_file_locks_nothing_and_says_so(
    kommune_a: Municipality, superbruker_a: Any, visma_profile: ExportProfile
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])

    export = run_export(kommune_a, superbruker_a, is_test=True)

    assert export.status == ExportStatus.DONE
    assert export.file_name == "VISMA_9999_202610_001_TEST.txt"
    assert _statuses(basis) == [BasisStatus.APPROVED]


def test_basic_layout_and_lf_from_the_profile(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile
) -> None:
    ExportProfile.objects.filter(pk=visma_profile.pk).update(
        visma_layout="basic", line_ending="lf", encoding="cp1252"
    )
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])

    export = run_export(kommune_a, merkantil_a)

    assert export.layout == "basic"
    data = file_bytes(export)
    assert b"\r\n" not in data and data.endswith(b"\n")
    assert data.splitlines()[0].endswith(b" ")  # ST FORMAT blank = basic
    assert len(data.splitlines()[1]) == 163


def test_agresso_customer_file_is_written_beside_the_orders(
    kommune_a: Municipality, merkantil_a: Any, agresso_profile: ExportProfile
) -> None:
    ExportProfile.objects.filter(pk=agresso_profile.pk).update(
        cs15_enabled=True, customer_mode="apar_id"
    )
    payer = factories.party(kommune_a, factories.FNR_OTHER, customer_number="10000417")
    factories.basis(kommune_a, payer=payer, lines=[{"dimensions": DIMS}])
    factories.basis(kommune_a, payer=payer, lines=[{"dimensions": DIMS}])

    export = run_export(kommune_a, merkantil_a, fmt="agresso")

    assert export.status == ExportStatus.DONE, (export.failure, export.findings)
    assert export.customer_file_name == "AGRESSO_CS15_9999_202610_001.txt"
    data = Path(export.customer_file.path).read_bytes()
    assert export.customer_sha256 == sha256_of(data)
    assert len(data.splitlines()) == 1  # one record per distinct payer


def test_wide_layout_on_request(
    kommune_a: Municipality, merkantil_a: Any, agresso_profile: ExportProfile
) -> None:
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])

    export = run_export(kommune_a, merkantil_a, fmt="agresso", layout="wide")

    assert export.status == ExportStatus.DONE
    assert {len(line) for line in file_bytes(export).splitlines()} == {4324}
    assert [o.order_id for o in read_agresso(export, "wide")] == [380_000_000]


def test_a_taken_over_export_that_fails_leaves_no_file_behind(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile, media_root: Path
) -> None:
    basis = factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = export_create(
        kommune_a, period="2026-10", fmt="visma", actor=merkantil_a, enqueue=False
    )
    # The dead run had already stored its file under the final name before it could commit.
    Export.objects.filter(pk=export.pk).update(
        status=ExportStatus.RUNNING,
        run_token="dead",
        lease_until=timezone.now() - datetime.timedelta(seconds=1),
        seq=1,
        file_name="VISMA_9999_202610_001.txt",
    )
    stale = media_root / "exports" / "9999" / "2026-10" / "VISMA_9999_202610_001.txt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"ST stale\r\n")
    original = run._Run._check_written

    def withdraw_meanwhile(self: Any, written: Any) -> None:
        original(self, written)
        InvoiceBasis.objects.filter(pk=basis.pk).update(status=BasisStatus.RECEIVED)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run._Run, "_check_written", withdraw_meanwhile)
        resumed = export_run(export.pk)

    assert resumed.status == ExportStatus.FAILED
    assert resumed.file_name == "VISMA_9999_202610_001.txt"  # the name stays taken
    assert stored_files(media_root) == []


def test_a_long_report_keeps_errors_first_and_counts_the_rest(
    kommune_a: Municipality,
    merkantil_a: Any,
    visma_profile: ExportProfile,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(findings, "MAX_STORED_FINDINGS", 2)
    unmapped = factories.service(kommune_a, "UKJENT", visma_vare="")
    sami = factories.party(kommune_a, factories.FNR_2032, name="Čáhppes Ŋuolga")
    for _ in range(3):
        factories.basis(kommune_a, payer=sami, lines=[{"service": unmapped}])

    export = run_export(kommune_a, merkantil_a)

    assert export.status == ExportStatus.REFUSED
    assert (export.error_count, export.warning_count) == (3, 3)
    assert [f["severity"] for f in export.findings] == ["error", "error"]
