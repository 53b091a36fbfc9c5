"""Is a restored installation whole? (`manage.py check_restore`, docs/operations.md, "Backup and
restore".)

Files: every finished export's file (and CS15 customer file) is in storage with the SHA-256 its
run recorded. Transfers: each has an attempt row for every basis it counted, and every basis's
status agrees with its attempts and exports (a sent basis has its sent attempt, a basis being sent
its live attempt, an exported basis its finished export, and the other way round).

Everything is read in bulk queries and files are hashed one block at a time, so a year of months
checks in minutes, not hours. What is found is reported by id and reference, never by content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.core.files.storage import default_storage
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet

from exports.models import Export, ExportItem, ExportStatus
from integrations.models import LIVE_STATES, AttemptState, Transfer, TransferAttempt
from invoices.models import BasisStatus, InvoiceBasis

_BLOCK = 1024 * 1024
SHOWN = 20  # problems listed per kind; the rest are counted


@dataclass
class Finding:
    kind: str
    count: int
    examples: list[str]


@dataclass
class RestoreReport:
    files_checked: int = 0
    transfers_checked: int = 0
    bases_checked: int = 0
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, examples: list[str], count: int | None = None) -> None:
        if examples or count:
            self.problems.append(Finding(kind, count or len(examples), examples[:SHOWN]))


def sha256_of(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stored_files() -> Iterator[tuple[int, str, str, str]]:
    """(export id, file name shown to users, storage name, recorded SHA-256) of every file a
    finished export made."""
    done = Export.objects.filter(status=ExportStatus.DONE).order_by("pk")
    yield from done.values_list("pk", "file_name", "file", "sha256")
    customers = done.exclude(customer_sha256="")
    yield from customers.values_list("pk", "customer_file_name", "customer_file", "customer_sha256")


def check_files(report: RestoreReport) -> None:
    missing: list[str] = []
    changed: list[str] = []
    referenced: set[str] = set()
    for pk, file_name, name, expected in _stored_files():
        report.files_checked += 1
        referenced.add(name)
        label = f"eksport {pk}: {file_name}"
        try:
            actual = sha256_of(name)
        except FileNotFoundError:
            missing.append(label)
            continue
        if actual != expected:
            changed.append(label)
    report.add("eksportfiler som mangler", missing)
    report.add("eksportfiler med annen SHA-256 enn eksporten registrerte", changed)
    strays = sum(1 for name in _storage_files("exports") if name not in referenced)
    if strays:
        report.notes.append(
            f"{strays} fil(er) i lageret som ingen ferdig eksport viser til (laget etter at "
            "databasen ble kopiert, eller av en kjøring som ikke ble ferdig); de skader ikke."
        )


def _storage_files(folder: str) -> Iterator[str]:
    try:
        dirs, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        if not name.endswith(".part"):
            yield f"{folder}/{name}"
    for sub in dirs:
        if sub != "tmp":
            yield from _storage_files(f"{folder}/{sub}")


def _refs(qs: QuerySet[InvoiceBasis]) -> tuple[list[str], int]:
    count = qs.count()
    return [b.reference for b in qs.select_related("municipality").order_by("pk")[:SHOWN]], count


def check_transfers(report: RestoreReport) -> None:
    counted = Transfer.objects.annotate(rows=Count("attempts"))
    report.transfers_checked = counted.count()
    short = counted.exclude(rows=F("basis_count")).order_by("pk")
    report.add(
        "overføringer der antall sendeforsøk ikke er antall grunnlag",
        [f"overføring {t.pk}: {t.rows} forsøk, {t.basis_count} grunnlag" for t in short[:SHOWN]],
        short.count(),
    )

    real = TransferAttempt.objects.filter(is_test=False)
    for state, status, kind in (
        ([AttemptState.SENT], BasisStatus.SENT, "sendt til Visma, men grunnlaget er ikke «sendt»"),
        (list(LIVE_STATES), BasisStatus.SENDING, "under sending, men grunnlaget er ikke «sendes»"),
    ):
        wrong = real.filter(state__in=state).exclude(basis__status=status).order_by("pk")
        report.add(
            f"sendeforsøk {kind}",
            [f"{a.reference} (overføring {a.transfer_id})" for a in wrong[:SHOWN]],
            wrong.count(),
        )

    bases = InvoiceBasis.objects.all()
    report.bases_checked = bases.count()
    attempts = real.filter(basis=OuterRef("pk"))
    in_done_export = ExportItem.objects.filter(
        basis=OuterRef("pk"), export__status=ExportStatus.DONE, export__is_test=False
    )
    for status, has, kind in (
        (BasisStatus.SENT, attempts.filter(state=AttemptState.SENT), "uten et sendt forsøk"),
        (BasisStatus.SENDING, attempts.filter(state__in=LIVE_STATES), "uten et levende forsøk"),
        (
            BasisStatus.FAILED,
            attempts.filter(state__in=[AttemptState.FAILED, AttemptState.REJECTED]),
            "uten et feilet eller avvist forsøk",
        ),
        (BasisStatus.EXPORTED, in_done_export, "uten en ferdig eksport"),
    ):
        refs, count = _refs(bases.filter(status=status).exclude(Exists(has)))
        report.add(f"grunnlag med status «{status.label}» {kind}", refs, count)

    # A basis a finished export wrote and locked must have stayed exported.
    not_exported = bases.filter(
        Exists(in_done_export.filter(basis_status=BasisStatus.APPROVED))
    ).exclude(status=BasisStatus.EXPORTED)
    refs, count = _refs(not_exported)
    report.add("grunnlag i en ferdig eksport som ikke er «eksportert»", refs, count)


def _newest(report: RestoreReport) -> None:
    """When the last work happened: everything after it was lost with the restore, and must be
    compared with Visma and the accounting system before anyone sends or exports again."""
    export = Export.objects.filter(status=ExportStatus.DONE).aggregate(t=Max("finished_at"))["t"]
    transfer = Transfer.objects.filter(is_test=False).aggregate(t=Max("created_at"))["t"]
    report.notes.append(
        f"Siste ferdige eksport: {export:%Y-%m-%d %H:%M}" if export else "Ingen eksporter."
    )
    report.notes.append(
        f"Siste overføring til Visma startet: {transfer:%Y-%m-%d %H:%M}"
        if transfer
        else "Ingen overføringer."
    )
    unfinished = Export.objects.filter(
        Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING)
    )
    active = Transfer.objects.filter(status__in=["queued", "running"])
    if unfinished.exists() or active.exists():
        report.notes.append(
            f"Uferdige kjøringer: {unfinished.count()} eksport(er), "
            f"{active.count()} overføring(er); arbeiderne tar dem opp igjen"
            " når de starter (sveiperen)."
        )


def restore_check() -> RestoreReport:
    report = RestoreReport()
    check_files(report)
    check_transfers(report)
    _newest(report)
    return report
