"""The export run: what a worker does with an export, from the recorded set to the stored file.

An export run makes two streamed passes over the selected bases:

1. *validate*: every blocking error and warning goes into `findings`, and the set of bases is
   recorded (`ExportItem`, with the state each was read in). Any error: the export is *refused*,
   nothing is written, no basis changes.
2. *write*: the same recorded set is rendered into a temporary file while its SHA-256 is computed;
   the file is moved into storage, and then ONE transaction locks the bases, checks that none
   changed since it was read, compares the totals, marks the bases *exported* and the export *done*.

A run owns its export through a lease (`run_token`, `lease_until`), so a redelivered task resumes
a crashed run instead of racing a live one, and a run that lost its lease can never commit.

The module (about 650 lines) is one class, `_Run`, whose phases read top to bottom in the order
they run, which is why it is not split further; its helpers live beside it (`files.py`,
`findings.py`, `numbering.py`, `prefilter.py`).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.bulk import insert_from, update_by_key
from invoices import state
from invoices.audit import audit
from invoices.models import (
    BasisStatus,
    InvoiceBasis,
    basis_reference,
)
from invoices.services import accounting_settings_get

from . import numbering
from .files import (
    Written,
    agresso_options,
    customer_file_options,
    remove_quietly,
    store,
    tmp_dir,
    visma_options,
    write_file,
)
from .findings import kept_findings, selection_findings
from .formats import agresso_cs15, agresso_lg04, visma_file
from .formats.types import Finding, FormatError, WriteSummary
from .models import (
    Export,
    ExportFormat,
    ExportItem,
    ExportPhase,
    ExportProfile,
    ExportStatus,
    export_upload_to,
)
from .prefilter import validate_selection
from .selectors import Selection, iter_bases, iter_chunks, mismatched_totals
from .services import ExportBusy, export_profile_get

logger = logging.getLogger(__name__)


LEASE = datetime.timedelta(minutes=10)


CHUNK_SIZE = 1000


# What an export records of each basis it covers, and where each value comes from.
_ITEM_COLUMNS = (
    "export_id",
    "basis_id",
    "total_ore",
    "content_hash",
    "basis_status",
    "basis_approved_at",
)


_ITEM_SOURCES = ("pk", "total_ore", "content_hash", "status", "approved_at")


_FINISH_FIELDS = [
    "status",
    "phase",
    "findings",
    "error_count",
    "warning_count",
    "finished_at",
    "lease_until",
]


class _LeaseLost(Exception):
    pass


class _BasesChanged(Exception):
    def __init__(self, references: list[str], count: int) -> None:
        super().__init__(", ".join(references))
        self.references = references
        self.count = count


class _Abort(Exception):
    """Stop the run and record it as failed with this message (and findings)."""

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.findings = list(findings)


def export_run(export_id: int, *, chunk_size: int = CHUNK_SIZE) -> Export:
    """Run (or resume) an export to its end: done, refused or failed. Safe to call again.

    A finished export is returned as it is. A running one whose lease is live raises ExportBusy;
    one whose lease has lapsed (its worker died) is taken over and run again from the start with
    the same file name and order ids.
    """
    token = _claim(export_id)
    if token is None:
        return Export.objects.get(pk=export_id)
    export = Export.objects.select_related("municipality", "unit").get(pk=export_id)
    run = _Run(export, token, chunk_size)
    try:
        run.execute()
    except _LeaseLost:
        logger.warning("export %s: lost its lease to another run; stopped", export_id)
    except _Abort as exc:
        run.finish_failed(exc.message, exc.findings)
    except Exception as exc:
        logger.exception("export %s failed", export_id)
        run.finish_failed(
            _("Uventet feil (%(kind)s). Ingen grunnlag er endret; prøv igjen eller kontakt drift.")
            % {"kind": type(exc).__name__}
        )
    return Export.objects.get(pk=export_id)


def _claim(export_id: int) -> str | None:
    with transaction.atomic():
        export = Export.objects.select_for_update().get(pk=export_id)
        if export.is_finished:
            return None
        now = timezone.now()
        if (
            export.status == ExportStatus.RUNNING
            and export.lease_until
            and export.lease_until > now
        ):
            raise ExportBusy((export.lease_until - now).total_seconds())
        token = uuid.uuid4().hex
        export.status = ExportStatus.RUNNING
        export.run_token = token
        export.lease_until = now + LEASE
        export.started_at = export.started_at or now
        export.save(update_fields=["status", "run_token", "lease_until", "started_at"])
        return token


class _Run:
    def __init__(self, export: Export, token: str, chunk_size: int) -> None:
        self.export = export
        self.municipality = export.municipality
        self.token = token
        self.chunk_size = chunk_size
        self.profile = export_profile_get(self.municipality)
        self.orders_needed = 0
        self.stored: list[str] = []
        self.tmp_paths: list[Path] = []

    # -- plumbing --

    @property
    def is_visma(self) -> bool:
        return self.export.format == ExportFormat.VISMA

    def _heartbeat(self, **fields: Any) -> None:
        """Progress and lease in one conditional write; a run that lost its lease stops here."""
        fields["lease_until"] = timezone.now() + LEASE
        updated = Export.objects.filter(pk=self.export.pk, run_token=self.token).update(**fields)
        if not updated:
            raise _LeaseLost
        for name, value in fields.items():
            setattr(self.export, name, value)

    def _locked_export(self) -> Export:
        export = Export.objects.select_for_update().get(pk=self.export.pk)
        if export.run_token != self.token:
            raise _LeaseLost
        return export

    def _selection(self) -> Selection:
        e = self.export
        statuses = (
            (BasisStatus.APPROVED, BasisStatus.EXPORTED) if e.override else (BasisStatus.APPROVED,)
        )
        return Selection(
            municipality=self.municipality,
            period=e.period,
            unit_id=e.unit_id,
            service_id=e.service_id,
            basis_ids=e.basis_ids,
            statuses=statuses,
            include_zero_amount=self.profile.include_zero_amount,
        )

    def _recorded(self) -> Selection:
        return Selection(
            municipality=self.municipality, period=self.export.period, export_id=self.export.pk
        )

    def _visma_options(self) -> visma_file.VismaFileOptions:
        return visma_options(
            self.profile,
            accounting_settings_get(self.municipality),
            layout=self.export.layout,
            reference_text=f"Fakturagrunnlag {self.export.period} eksport {self.export.pk}",
        )

    def _agresso_options(self, batch_id: str | None = None) -> agresso_lg04.AgressoOptions:
        if batch_id is None:
            # Validation runs before the batch id exists; a stand-in of the same width checks it.
            batch_id = self.profile.batch_prefix + "0" * 8
        return agresso_options(self.profile, layout=self.export.layout, batch_id=batch_id)

    def _customer_options(self) -> agresso_cs15.CustomerFileOptions:
        return customer_file_options(self.profile)

    # -- the run --

    def execute(self) -> None:
        self._forget_previous_attempt()
        findings = self._validate()
        if any(f.severity == "error" for f in findings):
            self._finish_refused(findings)
            return
        problem = self._allocate()
        if problem is not None:
            self._finish_refused([*findings, problem])
            return
        written = self._write()
        self._check_written(written)
        customers = self._write_customers() if self._wants_customers() else None
        self._heartbeat(phase=ExportPhase.SAVING)
        main_name = self._store(written.path, self.export.file_name)
        customer_name = (
            self._store(customers.path, self.export.customer_file_name) if customers else ""
        )
        try:
            self._commit(written, findings, main_name, customers, customer_name)
        except _BasesChanged as exc:
            shown = ", ".join(exc.references)
            raise _Abort(
                _(
                    "%(n)d grunnlag ble endret mens filen ble laget (%(refs)s). Filen er"
                    " forkastet og ingen grunnlag er låst; lag eksporten på nytt."
                )
                % {"n": exc.count, "refs": shown}
            ) from exc

    def _forget_previous_attempt(self) -> None:
        """A taken-over run starts from scratch; its file name and order ids are kept."""
        ExportItem.objects.filter(export=self.export).delete()
        for leftover in tmp_dir().glob(f"{self.export.pk}-*.part"):
            remove_quietly(leftover)
        self._heartbeat(phase=ExportPhase.VALIDATING, progress_done=0)

    def _wants_customers(self) -> bool:
        return not self.is_visma and self.profile.cs15_enabled

    # validate: record the set, collect every finding

    def _validate(self) -> list[Finding]:
        selection = self._selection()
        # The set is recorded first, with the state each basis is in now; what is checked and
        # then written is exactly that set (`_recorded()`), and the commit refuses any basis
        # that changed since.
        count = insert_from(
            ExportItem,
            _ITEM_COLUMNS,
            [self.export.pk],
            selection.queryset().values_list(*_ITEM_SOURCES),
        )
        self._heartbeat(progress_total=count, progress_done=0)
        findings = selection_findings(self.export, self.profile, selection, count)

        try:
            options: Any = self._visma_options() if self.is_visma else self._agresso_options()
        except ValueError as exc:
            return [
                *findings,
                Finding(
                    code="profile_invalid",
                    message=_("Eksportoppsettet er ugyldig: %(e)s") % {"e": exc},
                    field="profile",
                ),
            ]

        recorded = self._recorded()
        findings.extend(
            validate_selection(
                recorded,
                options,
                chunk_size=self.chunk_size,
                progress=lambda done: self._heartbeat(progress_done=done),
            )
        )
        if not self.is_visma:
            # One order per basis (the selection already left out what the profile holds back).
            self.orders_needed = count
        for pk in mismatched_totals(recorded):
            findings.append(
                Finding(
                    code="total_mismatch",
                    message=_("Summen av linjene stemmer ikke med grunnlagets sum."),
                    basis_pk=pk,
                    reference=basis_reference(self.municipality.number, pk),
                )
            )
        if self._wants_customers() and count:
            findings.extend(
                agresso_cs15.validate_customers(
                    agresso_cs15.distinct_payers(iter_bases(recorded)),
                    self._customer_options(),
                )
            )
        return findings

    # allocate: sequence number, file name, batch id, order ids

    def _allocate(self) -> Finding | None:
        with transaction.atomic():
            profile = ExportProfile.objects.select_for_update().get(pk=self.profile.pk)
            export = self._locked_export()
            try:
                problem = numbering.allocate(
                    export,
                    profile,
                    orders_needed=self.orders_needed,
                    lg04=not self.is_visma,
                    customers=self._wants_customers(),
                )
            except numbering.BatchNumbersUsedUp as exc:
                raise _Abort(exc.message) from exc
            if problem is not None:
                return problem
            for name in numbering.ALLOCATED:
                setattr(self.export, name, getattr(export, name))
        return None

    # write

    def _write(self) -> Written:
        self._heartbeat(phase=ExportPhase.WRITING, progress_done=0)
        path = tmp_dir() / f"{self.export.pk}-{self.token}.part"
        self.tmp_paths.append(path)
        done = 0

        def bases() -> Iterator[Any]:
            nonlocal done
            for chunk in iter_chunks(self._recorded(), chunk_size=self.chunk_size):
                yield from chunk.bases
                done += len(chunk.bases)
                self._heartbeat(progress_done=done)

        def render(sink: BinaryIO) -> WriteSummary:
            if self.is_visma:
                return visma_file.write(bases(), self._visma_options(), sink)
            e = self.export
            ids: Iterator[int] = iter(())
            if e.order_id_first is not None and e.order_id_last is not None:
                ids = iter(range(e.order_id_first, e.order_id_last + 1))
            return agresso_lg04.write(bases(), self._agresso_options(e.batch_id), sink, ids)

        try:
            return write_file(path, render)
        except FormatError as exc:
            raise _Abort(
                _("Filen kunne ikke skrives: %(e)s. Ingen grunnlag er endret.") % {"e": exc},
                exc.findings,
            ) from exc

    def _check_written(self, written: Written) -> None:
        """The file must hold exactly the recorded bases and their total, to the øre."""
        items = ExportItem.objects.filter(export=self.export)
        row = items.aggregate(count=Count("pk"), total=Sum("total_ore"))
        count, total = row["count"] or 0, row["total"] or 0
        s = written.summary
        if s.count != count or s.total_ore != total or (s.bytes and s.bytes != written.size):
            raise _Abort(
                _(
                    "Filen stemmer ikke med grunnlagene (fil: %(fc)d grunnlag, %(ft)d øre;"
                    " grunnlag: %(c)d, %(t)d øre). Ingen grunnlag er endret."
                )
                % {"fc": s.count, "ft": s.total_ore, "c": count, "t": total}
            )
        if not self.is_visma:
            self._record_order_ids(s.order_ids)

    def _record_order_ids(self, order_ids: Mapping[int, int]) -> None:
        e = self.export
        values = list(order_ids.values())
        if e.order_id_first is None or e.order_id_last is None:
            ok = not values
        else:
            ok = len(set(values)) == len(values) and all(
                e.order_id_first <= v <= e.order_id_last for v in values
            )
        if not ok:
            raise _Abort(_("Ordrenumrene i filen stemmer ikke med den reserverte serien."))
        recorded = update_by_key(
            ExportItem,
            key="basis_id",
            value="order_id",
            values=order_ids,
            where={"export_id": e.pk},
        )
        if recorded != len(order_ids):
            raise _Abort(_("Ordrenumrene i filen stemmer ikke med grunnlagene i eksporten."))

    def _write_customers(self) -> Written:
        path = tmp_dir() / f"{self.export.pk}-{self.token}-cs15.part"
        self.tmp_paths.append(path)
        customers = agresso_cs15.distinct_payers(iter_bases(self._recorded()))
        try:
            return write_file(
                path,
                lambda sink: agresso_cs15.write_customers(
                    customers, self._customer_options(), sink
                ),
            )
        except FormatError as exc:
            raise _Abort(
                _("Kundefilen kunne ikke skrives: %(e)s.") % {"e": exc}, exc.findings
            ) from exc

    def _store(self, path: Path, file_name: str) -> str:
        """Move a finished temporary file into storage under its final name."""
        name = store(path, export_upload_to(self.export, file_name))
        self.stored.append(name)
        return name

    # commit

    def _commit(
        self,
        written: Written,
        findings: list[Finding],
        main_name: str,
        customers: Written | None,
        customer_name: str,
    ) -> None:
        with transaction.atomic():
            export = self._locked_export()
            self._check_unchanged(export, written.summary.count)
            self._check_total(export, written.summary.total_ore)
            if not export.is_test:
                items = ExportItem.objects.filter(export=export)
                expected = items.filter(basis_status=BasisStatus.APPROVED).count()
                marked = state.mark_exported(
                    InvoiceBasis.objects.filter(pk__in=items.values("basis_id"))
                )
                if marked != expected:
                    raise _BasesChanged([], abs(expected - marked))
            self._finish_done(export, written, findings, main_name, customers, customer_name)
        self.export = export

    def _check_unchanged(self, export: Export, count: int) -> None:
        """Lock every basis of the file (in a fixed order, so two runs cannot deadlock), then
        check that none changed since it was read."""
        locked = (
            InvoiceBasis.objects.select_for_update(of=("self",))
            .filter(export_items__export=export)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        locked_count = len(list(locked))
        changed: list[str] = []
        changed_count = 0
        rows = (
            ExportItem.objects.filter(export=export)
            .values_list(
                "basis_id",
                "basis_status",
                "content_hash",
                "total_ore",
                "basis_approved_at",
                "basis__status",
                "basis__content_hash",
                "basis__total_ore",
                "basis__approved_at",
            )
            .order_by("basis_id")
        )
        for row in rows.iterator(chunk_size=self.chunk_size):
            if row[1:5] != row[5:9]:
                changed_count += 1
                if len(changed) < 20:
                    changed.append(basis_reference(self.municipality.number, row[0]))
        if changed_count or locked_count != count:
            raise _BasesChanged(changed, changed_count or abs(locked_count - count))

    def _check_total(self, export: Export, file_total: int) -> None:
        total = (
            InvoiceBasis.objects.filter(export_items__export=export).aggregate(t=Sum("total_ore"))[
                "t"
            ]
            or 0
        )
        if total != file_total:
            raise _Abort(
                _("Summen i filen (%(f)d øre) er ikke summen av grunnlagene (%(b)d øre).")
                % {"f": file_total, "b": total}
            )

    def _finish_done(
        self,
        export: Export,
        written: Written,
        findings: list[Finding],
        main_name: str,
        customers: Written | None,
        customer_name: str,
    ) -> None:
        export.status = ExportStatus.DONE
        export.phase = ""
        export.count = written.summary.count
        export.total_ore = written.summary.total_ore
        export.records = written.summary.records
        export.file.name = main_name
        export.sha256 = written.sha256
        export.size_bytes = written.size
        if customers is not None:
            export.customer_file.name = customer_name
            export.customer_sha256 = customers.sha256
        export.findings = kept_findings(findings)
        export.error_count = 0
        export.warning_count = sum(1 for f in findings if f.severity == "warning")
        export.progress_done = export.progress_total = written.summary.count
        export.finished_at = timezone.now()
        export.lease_until = None
        export.save(
            update_fields=[
                *_FINISH_FIELDS,
                "count",
                "total_ore",
                "records",
                "file",
                "sha256",
                "size_bytes",
                "customer_file",
                "customer_sha256",
                "progress_done",
                "progress_total",
            ]
        )
        audit(
            "export.done",
            actor=export.created_by,
            municipality=self.municipality,
            obj=export,
            file_name=export.file_name,
            sha256=export.sha256,
            count=export.count,
            total_ore=export.total_ore,
            is_test=export.is_test,
            override=export.override,
        )

    # endings

    def _finish_refused(self, findings: list[Finding]) -> None:
        errors = [f for f in findings if f.severity == "error"]
        warnings = [f for f in findings if f.severity != "error"]
        with transaction.atomic():
            export = self._locked_export()
            ExportItem.objects.filter(export=export).delete()
            export.status = ExportStatus.REFUSED
            export.phase = ""
            export.findings = kept_findings(findings)
            export.error_count = len(errors)
            export.warning_count = len(warnings)
            export.finished_at = timezone.now()
            export.lease_until = None
            export.save(update_fields=_FINISH_FIELDS)
            audit(
                "export.refused",
                actor=export.created_by,
                municipality=self.municipality,
                obj=export,
                errors=len(errors),
                warnings=len(warnings),
                codes=sorted({f.code for f in errors})[:20],
            )
        self._cleanup_files()

    def finish_failed(self, message: str, findings: Sequence[Finding] = ()) -> None:
        for path in self.tmp_paths:
            remove_quietly(path)
        try:
            with transaction.atomic():
                export = self._locked_export()
                ExportItem.objects.filter(export=export).delete()
                export.status = ExportStatus.FAILED
                export.phase = ""
                export.failure = message
                export.findings = kept_findings(findings)
                export.error_count = sum(1 for f in findings if f.severity == "error")
                export.warning_count = sum(1 for f in findings if f.severity != "error")
                export.file = ""  # type: ignore[assignment]
                export.customer_file = ""  # type: ignore[assignment]
                export.finished_at = timezone.now()
                export.lease_until = None
                export.save(update_fields=[*_FINISH_FIELDS, "failure", "file", "customer_file"])
                audit(
                    "export.failed",
                    actor=export.created_by,
                    municipality=self.municipality,
                    obj=export,
                    failure=message[:500],
                )
        except _LeaseLost:
            # The run that took over owns the final file name now: leave it alone.
            logger.warning("export %s: failed after losing its lease", self.export.pk)
            return
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        """Remove what this run wrote, and a file an earlier, taken-over run of the same export
        may have left under the final name: an export that is not done has no file."""
        for path in self.tmp_paths:
            remove_quietly(path)
        names = set(self.stored)
        for file_name in (self.export.file_name, self.export.customer_file_name):
            if file_name:
                names.add(export_upload_to(self.export, file_name))
        for name in names:
            default_storage.delete(name)
        self.stored = []
