"""Writes of the export app that people start: the export profile, asking for an export, and
downloading its file. What a worker then does with an export is `run.py`."""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor, user_id
from core.queue import enqueue
from invoices.access import BILLING_ROLES, TEST_TRANSFER_ROLES, role_of
from invoices.audit import audit, audit_changes
from invoices.models import (
    Municipality,
    Role,
    Service,
    Unit,
)

from .models import (
    FORMAT_LAYOUTS,
    Export,
    ExportFormat,
    ExportProfile,
    ExportStatus,
)

logger = logging.getLogger(__name__)


_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


_HASH_BLOCK = 1024 * 1024


class ExportError(Exception):
    """An export that cannot be asked for as given. The message is for the user (Bokmål)."""


class ExportBusy(Exception):
    """Another live run owns the export; try again when its lease has lapsed."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"export is being run elsewhere; retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class ExportIntegrityError(Exception):
    """A stored file no longer matches the checksum recorded when it was made."""


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
        audit_changes(
            "export_profile.changed",
            actor=actor,
            municipality=locked.municipality,
            obj=locked,
            before=before,
            after=locked.snapshot(),
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


def export_create(
    municipality: Municipality,
    *,
    period: str,
    fmt: str,
    layout: str | None = None,
    unit: Unit | None = None,
    service: Service | None = None,
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
    if service is not None and service.municipality_id != municipality.pk:
        raise ExportError(_("Ukjent tjeneste."))
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
                    service=service,
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
            service=service,
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
            service=service.code if service else "",
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


RUN_EXPORT = "exports.tasks.run_export"


def _enqueue(export_id: int) -> None:
    enqueue(RUN_EXPORT, export_id)


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
