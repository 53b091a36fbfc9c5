"""Writes of the export app: the export profile, export runs, downloads.

An export run makes two streamed passes over the selected bases:

1. *validate*: every blocking error and warning goes into `findings`, and the set of bases is
   recorded (`ExportItem`, with the state each was read in). Any error: the export is *refused*,
   nothing is written, no basis changes.
2. *write*: the same recorded set is rendered into a temporary file while its SHA-256 is computed;
   the file is moved into storage, and then ONE transaction locks the bases, checks that none
   changed since it was read, compares the totals, marks the bases *exported* and the export *done*.

A run owns its export through a lease (`run_token`, `lease_until`), so a redelivered task resumes
a crashed run instead of racing a live one, and a run that lost its lease can never commit.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import os
import re
import string
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, user_id
from core.bulk import insert_from, update_by_key
from invoices import state
from invoices.access import BILLING_ROLES, TEST_TRANSFER_ROLES, role_of
from invoices.audit import audit
from invoices.models import (
    AccountingSettings,
    BasisStatus,
    InvoiceBasis,
    Municipality,
    Role,
    Unit,
    basis_reference,
)
from invoices.services import accounting_settings_get

from .formats import agresso_cs15, agresso_lg04, visma_file
from .formats.types import Finding, FormatError, WriteSummary
from .models import (
    FILE_PREFIX,
    FORMAT_LAYOUTS,
    Export,
    ExportFormat,
    ExportItem,
    ExportPhase,
    ExportProfile,
    ExportStatus,
    LineEnding,
    export_upload_to,
)
from .prefilter import validate_selection
from .selectors import Selection, iter_bases, iter_chunks, mismatched_totals

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
# A month with a broken mapping can produce one error per line; the report keeps the first ones
# and the counts.
MAX_STORED_FINDINGS = 5000
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_HASH_BLOCK = 1024 * 1024
_FINISH_FIELDS = [
    "status",
    "phase",
    "findings",
    "error_count",
    "warning_count",
    "finished_at",
    "lease_until",
]


class ExportError(Exception):
    """An export that cannot be asked for as given. The message is for the user (Bokmål)."""


class ExportBusy(Exception):
    """Another live run owns the export; try again when its lease has lapsed."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"export is being run elsewhere; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class ExportIntegrityError(Exception):
    """A stored file no longer matches the checksum recorded when it was made."""


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


# --- roles ---------------------------------------------------------------------------------------


# --- the profile ---------------------------------------------------------------------------------


def export_profile_get(municipality: Municipality) -> ExportProfile:
    """The municipality's profile, created with the defaults on first use."""
    profile, _created = ExportProfile.objects.get_or_create(municipality=municipality)
    return profile


_SERIES_FIELDS = ("order_id_start", "order_id_end")


def export_profile_update(
    profile: ExportProfile, *, values: Mapping[str, Any], actor: Actor
) -> ExportProfile:
    """Apply validated settings, keep the order-id series moving forward only, audit the change."""
    if role_of(actor, profile.municipality) != Role.SYSTEMADMINISTRATOR:
        raise ExportError(_("Bare systemadministrator kan endre eksportoppsettet."))
    allowed = {f.name for f in ExportProfile._meta.concrete_fields} - {
        "id",
        "municipality",
        "order_id_next",
        "updated_at",
        "updated_by",
    }
    unknown = set(values) - allowed
    if unknown:
        raise ExportError(_("Ukjente felter: %(f)s") % {"f": ", ".join(sorted(unknown))})
    with transaction.atomic():
        locked = ExportProfile.objects.select_for_update().get(pk=profile.pk)
        before = locked.snapshot()
        for name, value in values.items():
            setattr(locked, name, value)
        if any(before[f] != getattr(locked, f) for f in _SERIES_FIELDS) or (
            locked.order_id_start is not None and locked.order_id_next is None
        ):
            locked.order_id_next = _next_unused_order_id(locked)
        if locked.order_id_start is None:
            locked.order_id_end = None
            locked.order_id_next = None
        locked.full_clean()
        locked.updated_by_id = user_id(actor)
        locked.save()
        after = locked.snapshot()
        changes = {
            k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]
        }
        if changes:
            audit(
                "export_profile.changed",
                actor=actor,
                municipality=locked.municipality,
                obj=locked,
                changes=changes,
            )
    return locked


def _next_unused_order_id(profile: ExportProfile) -> int | None:
    """The first id of the (new) series above every id any export of the municipality took from
    it, so switching series back and forth never hands out an id twice."""
    start, end = profile.order_id_start, profile.order_id_end
    if start is None or end is None:
        return None
    used = Export.objects.filter(
        municipality_id=profile.municipality_id,
        order_id_first__lte=end,
        order_id_last__gte=start,
    ).aggregate(top=Max("order_id_last"))["top"]
    candidate = start
    if used is not None:
        candidate = max(candidate, min(used, end) + 1)
    current = profile.order_id_next
    if current is not None and start <= current <= end + 1:
        candidate = max(candidate, current)
    return candidate


# --- asking for an export ------------------------------------------------------------------------


def export_create(
    municipality: Municipality,
    *,
    period: str,
    fmt: str,
    layout: str | None = None,
    unit: Unit | None = None,
    basis_ids: Sequence[int] | None = None,
    actor: Actor,
    override_reason: str | None = None,
    is_test: bool = False,
    enqueue: bool = True,
) -> Export:
    """Record a queued export and, once committed, hand it to a worker (`exports.tasks`).

    `override_reason` re-exports bases that were already exported: superbruker only, reason
    required, audited. A test file (`is_test`, superbruker only) locks nothing.
    """
    role = role_of(actor, municipality)
    if role not in BILLING_ROLES:
        raise ExportError(_("Du har ikke tilgang til å lage eksportfiler i denne kommunen."))
    if not isinstance(period, str) or not _PERIOD.fullmatch(period):
        raise ExportError(_("Periode må skrives ÅÅÅÅ-MM, f.eks. 2026-10."))
    if fmt not in ExportFormat.values:
        raise ExportError(_("Ukjent filformat: %(f)s.") % {"f": fmt})
    profile = export_profile_get(municipality)
    if not layout:
        layout = profile.visma_layout if fmt == ExportFormat.VISMA else profile.agresso_layout
    if layout not in FORMAT_LAYOUTS[fmt]:
        raise ExportError(
            _("Varianten «%(l)s» finnes ikke for %(f)s.")
            % {"l": layout, "f": ExportFormat(fmt).label}
        )
    if unit is not None and unit.municipality_id != municipality.pk:
        raise ExportError(_("Ukjent enhet."))
    ids: list[int] | None = None
    if basis_ids is not None:
        try:
            ids = sorted({int(i) for i in basis_ids})
        except (TypeError, ValueError):
            raise ExportError(_("Ugyldig utvalg av grunnlag.")) from None
        if not ids:
            raise ExportError(_("Velg minst ett fakturagrunnlag."))
    override = override_reason is not None
    reason = (override_reason or "").strip()
    if override and not reason:
        raise ExportError(_("Overstyring krever en begrunnelse."))
    if override and role != Role.SUPERBRUKER:
        raise ExportError(_("Bare superbruker kan eksportere grunnlag som allerede er eksportert."))
    if is_test and role not in TEST_TRANSFER_ROLES:
        raise ExportError(_("Bare superbruker kan lage testfiler."))

    with transaction.atomic():
        # Serialises requests per municipality, so a double click finds the first click's export.
        ExportProfile.objects.select_for_update().get(pk=profile.pk)
        if ids is None and not override:
            pending = (
                Export.objects.filter(
                    municipality=municipality,
                    format=fmt,
                    layout=layout,
                    period=period,
                    unit=unit,
                    basis_ids__isnull=True,
                    override=False,
                    is_test=is_test,
                    status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING],
                )
                .order_by("pk")
                .first()
            )
            if pending is not None:
                return pending
        export = Export.objects.create(
            municipality=municipality,
            format=fmt,
            layout=layout,
            period=period,
            unit=unit,
            basis_ids=ids,
            is_test=is_test,
            override=override,
            override_reason=reason,
            created_by_id=user_id(actor),
        )
        audit(
            "export.created",
            actor=actor,
            municipality=municipality,
            obj=export,
            format=fmt,
            layout=layout,
            period=period,
            unit=unit.code if unit else "",
            basis_count=len(ids) if ids is not None else None,
            is_test=is_test,
        )
        if override:
            audit(
                "export.override",
                actor=actor,
                municipality=municipality,
                obj=export,
                reason=reason,
                basis_ids=ids,
                period=period,
            )
        if enqueue:
            transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _enqueue(export_id: int) -> None:
    from .tasks import run_export

    run_export.delay(export_id)


# --- running an export ---------------------------------------------------------------------------


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


class HashingWriter(io.RawIOBase):
    """Passes bytes to a file while computing their SHA-256 and size (a raw stream, so a writer
    may buffer it)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += view.nbytes
        self.raw.write(view)
        return view.nbytes

    def flush(self) -> None:
        self.raw.flush()


@dataclass
class _Written:
    path: Path
    sha256: str
    size: int
    summary: WriteSummary


def _finding_dict(f: Finding) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies, which is most of the cost for 30 000 warnings.
    return {
        "code": f.code,
        "message": f.message,
        "severity": f.severity,
        "basis_pk": f.basis_pk,
        "reference": f.reference,
        "field": f.field,
    }


def _kept_findings(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Errors first, so a capped report still shows what blocks the file."""
    ordered = [f for f in findings if f.severity == "error"]
    ordered += [f for f in findings if f.severity != "error"]
    return [_finding_dict(f) for f in ordered[:MAX_STORED_FINDINGS]]


def _tmp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "exports" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _batch_suffix(run_no: int) -> str:
    """Two characters: 01–99, then A0–ZZ."""
    if run_no < 100:
        return f"{run_no:02d}"
    digits = string.digits + string.ascii_uppercase
    n = run_no - 100 + 360  # "A0" is 10*36
    if n >= 36 * 36:
        raise _Abort(_("For mange Agresso-filer i dag; batch-nummeret er brukt opp."))
    return digits[n // 36] + digits[n % 36]


def _line_ending(profile: ExportProfile) -> Any:
    return "\r\n" if profile.line_ending == LineEnding.CRLF else "\n"


def visma_options(
    profile: ExportProfile,
    accounting: AccountingSettings,
    *,
    layout: str,
    reference_text: str = "",
) -> visma_file.VismaFileOptions:
    """The Visma writer's options from a municipality's profile and accounting settings
    (ValueError if invalid)."""
    return visma_file.VismaFileOptions(
        layout=layout,  # type: ignore[arg-type]
        encoding=profile.encoding,  # type: ignore[arg-type]
        line_ending=_line_ending(profile),
        quantity_decimals=profile.quantity_decimals,  # type: ignore[arg-type]
        default_oppdragsgiver=accounting.default_oppdragsgiver,
        kb_slots=tuple(accounting.kb_slots),
        reference_text=reference_text,
        include_zero_amount=True,  # zero-amount bases are left out by the selection
    )


def agresso_options(
    profile: ExportProfile,
    *,
    layout: str,
    batch_id: str,
    order_date: datetime.date | None = None,
) -> agresso_lg04.AgressoOptions:
    """The LG04 writer's options from a municipality's profile (ValueError if invalid)."""
    return agresso_lg04.AgressoOptions(
        layout=layout,  # type: ignore[arg-type]
        encoding=profile.encoding,  # type: ignore[arg-type]
        line_ending=_line_ending(profile),
        client=profile.agresso_client,
        voucher_type=profile.voucher_type,
        order_type=profile.order_type,
        pay_method=profile.pay_method,
        responsible=profile.responsible,
        responsible2=profile.responsible2,
        batch_id=batch_id,
        customer_mode=profile.customer_mode,  # type: ignore[arg-type]
        dim_slots=tuple(profile.dim_slots),
        required_slots=frozenset(profile.dim_required),
        header_text_template=profile.header_text_template,
        order_date=order_date or timezone.localdate(),
        include_zero_amount=True,
    )


def customer_file_options(profile: ExportProfile) -> agresso_cs15.CustomerFileOptions:
    return agresso_cs15.CustomerFileOptions(
        encoding=profile.encoding,  # type: ignore[arg-type]
        line_ending=_line_ending(profile),
        client=profile.agresso_client,
        customer_group=profile.cs15_customer_group,
        pay_method=profile.pay_method,
    )


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
        for leftover in _tmp_dir().glob(f"{self.export.pk}-*.part"):
            _remove(leftover)
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
        findings = self._selection_findings(selection, count)

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

    def _selection_findings(self, selection: Selection, count: int) -> list[Finding]:
        e = self.export
        number = self.municipality.number
        findings: list[Finding] = []
        if e.basis_ids is not None:
            eligible = set(selection.queryset().values_list("pk", flat=True))
            others = (
                InvoiceBasis.objects.filter(municipality=self.municipality, pk__in=e.basis_ids)
                .exclude(pk__in=eligible)
                .values_list("pk", "status", "period")
            )
            found = set()
            for pk, status, period in others:
                found.add(pk)
                if status == BasisStatus.EXPORTED and not e.override:
                    message = _(
                        "Grunnlaget er allerede eksportert. Ny eksport krever overstyring av"
                        " superbruker."
                    )
                    code = "already_exported"
                elif period != e.period:
                    message = _("Grunnlaget hører til periode %(p)s.") % {"p": period}
                    code = "wrong_period"
                elif status == BasisStatus.APPROVED:
                    message = _("Grunnlaget er utenfor utvalget (enhet eller 0 kr).")
                    code = "outside_selection"
                else:
                    message = _("Grunnlaget er ikke godkjent (status: %(s)s).") % {
                        "s": BasisStatus(status).label
                    }
                    code = "not_approved"
                findings.append(
                    Finding(
                        code=code,
                        message=message,
                        basis_pk=pk,
                        reference=basis_reference(number, pk),
                    )
                )
            for pk in sorted(set(e.basis_ids) - eligible - found):
                findings.append(
                    Finding(
                        code="unknown_basis", message=_("Fant ikke grunnlag %(pk)s.") % {"pk": pk}
                    )
                )
        if count == 0 and not findings:
            findings.append(
                Finding(
                    code="empty_selection",
                    message=_("Ingen godkjente fakturagrunnlag i utvalget."),
                )
            )
        if not self.profile.include_zero_amount:
            skipped = (
                Selection(
                    municipality=selection.municipality,
                    period=selection.period,
                    unit_id=selection.unit_id,
                    basis_ids=selection.basis_ids,
                    statuses=selection.statuses,
                )
                .queryset()
                .filter(total_ore=0)
                .count()
            )
            if skipped:
                findings.append(
                    Finding(
                        code="zero_amount_skipped",
                        message=_(
                            "%(n)d grunnlag på 0 kr er holdt utenfor filen (eksportoppsettet) og"
                            " forblir godkjent."
                        )
                        % {"n": skipped},
                        severity="warning",
                    )
                )
        return findings

    # allocate: sequence number, file name, batch id, order ids

    def _allocate(self) -> Finding | None:
        with transaction.atomic():
            profile = ExportProfile.objects.select_for_update().get(pk=self.profile.pk)
            export = self._locked_export()
            fields: list[str] = []
            if not self.is_visma:
                n = self.orders_needed
                have = (
                    export.order_id_last - export.order_id_first + 1
                    if export.order_id_first is not None and export.order_id_last is not None
                    else None
                )
                if n and have != n:
                    if profile.order_id_start is None or profile.order_id_next is None:
                        return Finding(
                            code="order_series_missing",
                            message=_(
                                "Ingen ordrenummerserie er satt opp for Agresso (Eksportoppsett)."
                            ),
                            field="profile.order_id_start",
                        )
                    first = profile.order_id_next
                    last = first + n - 1
                    assert profile.order_id_end is not None
                    if last > profile.order_id_end:
                        left = max(0, profile.order_id_end - first + 1)
                        return Finding(
                            code="order_series_exhausted",
                            message=_(
                                "Ordrenummerserien er brukt opp: eksporten trenger %(n)d nummer,"
                                " bare %(left)d er igjen (til %(end)d). Utvid serien i"
                                " eksportoppsettet."
                            )
                            % {"n": n, "left": left, "end": profile.order_id_end},
                            field="profile.order_id_end",
                        )
                    profile.order_id_next = last + 1
                    profile.save(update_fields=["order_id_next"])
                    export.order_id_first, export.order_id_last = first, last
                    fields += ["order_id_first", "order_id_last"]
                if not export.batch_id:
                    stem = profile.batch_prefix + timezone.localdate().strftime("%y%m%d")
                    taken = Export.objects.filter(
                        municipality=self.municipality, batch_id__startswith=stem
                    ).count()
                    export.batch_id = stem + _batch_suffix(taken + 1)
                    fields.append("batch_id")
            if export.seq is None:
                top = Export.objects.filter(
                    municipality=self.municipality, format=export.format, period=export.period
                ).aggregate(top=Max("seq"))["top"]
                export.seq = (top or 0) + 1
                yyyymm = export.period.replace("-", "")
                number = self.municipality.number
                suffix = "_TEST" if export.is_test else ""
                export.file_name = (
                    f"{FILE_PREFIX[export.format]}_{number}_{yyyymm}_{export.seq:03d}{suffix}.txt"
                )
                if self._wants_customers():
                    export.customer_file_name = (
                        f"AGRESSO_CS15_{number}_{yyyymm}_{export.seq:03d}{suffix}.txt"
                    )
                fields += ["seq", "file_name", "customer_file_name"]
            if fields:
                export.save(update_fields=fields)
            self.export.seq = export.seq
            self.export.file_name = export.file_name
            self.export.customer_file_name = export.customer_file_name
            self.export.batch_id = export.batch_id
            self.export.order_id_first = export.order_id_first
            self.export.order_id_last = export.order_id_last
        return None

    # write

    def _write(self) -> _Written:
        self._heartbeat(phase=ExportPhase.WRITING, progress_done=0)
        path = _tmp_dir() / f"{self.export.pk}-{self.token}.part"
        self.tmp_paths.append(path)
        done = 0

        def bases() -> Iterator[Any]:
            nonlocal done
            for chunk in iter_chunks(self._recorded(), chunk_size=self.chunk_size):
                yield from chunk.bases
                done += len(chunk.bases)
                self._heartbeat(progress_done=done)

        with open(path, "wb") as raw:
            out = HashingWriter(raw)
            sink = cast(BinaryIO, out)
            try:
                if self.is_visma:
                    summary = visma_file.write(bases(), self._visma_options(), sink)
                else:
                    e = self.export
                    ids: Iterator[int] = iter(())
                    if e.order_id_first is not None and e.order_id_last is not None:
                        ids = iter(range(e.order_id_first, e.order_id_last + 1))
                    summary = agresso_lg04.write(
                        bases(), self._agresso_options(e.batch_id), sink, ids
                    )
            except FormatError as exc:
                raise _Abort(
                    _("Filen kunne ikke skrives: %(e)s. Ingen grunnlag er endret.") % {"e": exc},
                    exc.findings,
                ) from exc
            raw.flush()
            os.fsync(raw.fileno())
        return _Written(path, out.digest.hexdigest(), out.size, summary)

    def _check_written(self, written: _Written) -> None:
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

    def _write_customers(self) -> _Written:
        path = _tmp_dir() / f"{self.export.pk}-{self.token}-cs15.part"
        self.tmp_paths.append(path)
        with open(path, "wb") as raw:
            out = HashingWriter(raw)
            try:
                summary = agresso_cs15.write_customers(
                    agresso_cs15.distinct_payers(iter_bases(self._recorded())),
                    self._customer_options(),
                    cast(BinaryIO, out),
                )
            except FormatError as exc:
                raise _Abort(
                    _("Kundefilen kunne ikke skrives: %(e)s.") % {"e": exc}, exc.findings
                ) from exc
            raw.flush()
            os.fsync(raw.fileno())
        return _Written(path, out.digest.hexdigest(), out.size, summary)

    def _store(self, path: Path, file_name: str) -> str:
        """Move a finished temporary file into storage under its final name."""
        name = export_upload_to(self.export, file_name)
        if hasattr(default_storage, "path"):
            target = Path(default_storage.path(name))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)  # same filesystem: atomic, no copy
        else:  # pragma: no cover - remote storage
            if default_storage.exists(name):
                default_storage.delete(name)
            with open(path, "rb") as fh:
                name = default_storage.save(name, File(fh))
            _remove(path)
        self.stored.append(name)
        return name

    # commit

    def _commit(
        self,
        written: _Written,
        findings: list[Finding],
        main_name: str,
        customers: _Written | None,
        customer_name: str,
    ) -> None:
        with transaction.atomic():
            export = self._locked_export()
            items = ExportItem.objects.filter(export=export)
            # Lock every basis of the file (in a fixed order, so two runs cannot deadlock), then
            # check that none changed since it was read.
            locked = (
                InvoiceBasis.objects.select_for_update(of=("self",))
                .filter(export_items__export=export)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            locked_count = len(list(locked))
            changed: list[str] = []
            changed_count = 0
            rows = items.values_list(
                "basis_id",
                "basis_status",
                "content_hash",
                "total_ore",
                "basis_approved_at",
                "basis__status",
                "basis__content_hash",
                "basis__total_ore",
                "basis__approved_at",
            ).order_by("basis_id")
            for row in rows.iterator(chunk_size=self.chunk_size):
                if row[1:5] != row[5:9]:
                    changed_count += 1
                    if len(changed) < 20:
                        changed.append(basis_reference(self.municipality.number, row[0]))
            if changed_count or locked_count != written.summary.count:
                raise _BasesChanged(
                    changed, changed_count or abs(locked_count - written.summary.count)
                )

            total = (
                InvoiceBasis.objects.filter(export_items__export=export).aggregate(
                    t=Sum("total_ore")
                )["t"]
                or 0
            )
            if total != written.summary.total_ore:
                raise _Abort(
                    _("Summen i filen (%(f)d øre) er ikke summen av grunnlagene (%(b)d øre).")
                    % {"f": written.summary.total_ore, "b": total}
                )

            now = timezone.now()
            if not export.is_test:
                expected = items.filter(basis_status=BasisStatus.APPROVED).count()
                marked = state.mark_exported(
                    InvoiceBasis.objects.filter(pk__in=items.values("basis_id"))
                )
                if marked != expected:
                    raise _BasesChanged([], abs(expected - marked))

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
            export.findings = _kept_findings(findings)
            export.error_count = 0
            export.warning_count = sum(1 for f in findings if f.severity == "warning")
            export.progress_done = export.progress_total = written.summary.count
            export.finished_at = now
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
        self.export = export

    # endings

    def _finish_refused(self, findings: list[Finding]) -> None:
        errors = [f for f in findings if f.severity == "error"]
        warnings = [f for f in findings if f.severity != "error"]
        with transaction.atomic():
            export = self._locked_export()
            ExportItem.objects.filter(export=export).delete()
            export.status = ExportStatus.REFUSED
            export.phase = ""
            export.findings = _kept_findings(findings)
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
            _remove(path)
        try:
            with transaction.atomic():
                export = self._locked_export()
                ExportItem.objects.filter(export=export).delete()
                export.status = ExportStatus.FAILED
                export.phase = ""
                export.failure = message
                export.findings = _kept_findings(findings)
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
            _remove(path)
        names = set(self.stored)
        for file_name in (self.export.file_name, self.export.customer_file_name):
            if file_name:
                names.add(export_upload_to(self.export, file_name))
        for name in names:
            default_storage.delete(name)
        self.stored = []


STALE_QUEUED = datetime.timedelta(minutes=5)


def exports_resume_stale(*, enqueue: Callable[[int], Any]) -> int:
    """Hand unfinished exports nobody is working on to `enqueue` again: queued ones older than a
    few minutes (their message may be lost) and running ones whose lease has lapsed. Running an
    export twice is harmless, so a false alarm costs nothing."""
    now = timezone.now()
    stale = Export.objects.filter(
        Q(status=ExportStatus.QUEUED, created_at__lt=now - STALE_QUEUED)
        | Q(status=ExportStatus.RUNNING, lease_until__lt=now)
    ).values_list("pk", flat=True)
    count = 0
    for pk in stale:
        enqueue(pk)
        count += 1
    return count


# --- downloading ---------------------------------------------------------------------------------


def stored_sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def export_download(
    export: Export, *, actor: Actor, customers: bool = False
) -> tuple[IO[bytes], str]:
    """Open a finished export's file for download after checking it still has its SHA-256.

    Raises ExportIntegrityError (and audits it) when the bytes changed since the export was made.
    """
    field = export.customer_file if customers else export.file
    expected = export.customer_sha256 if customers else export.sha256
    file_name = export.customer_file_name if customers else export.file_name
    if export.status != ExportStatus.DONE or not field.name or not expected:
        raise ExportIntegrityError("no finished file")
    try:
        actual = stored_sha256(field.name)
    except FileNotFoundError:
        actual = ""
    if actual != expected:
        audit(
            "export.integrity_failed",
            actor=actor,
            municipality=export.municipality,
            obj=export,
            file_name=file_name,
            expected=expected,
            actual=actual,
        )
        raise ExportIntegrityError(file_name)
    audit(
        "export.downloaded",
        actor=actor,
        municipality=export.municipality,
        obj=export,
        file_name=file_name,
        sha256=expected,
    )
    return default_storage.open(field.name, "rb"), file_name
