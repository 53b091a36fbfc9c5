"""The file channel's part of a basis's story (`invoices.timeline`): each export that held it,
with its file, its order number and who made it. One query."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from invoices.models import InvoiceBasis
from invoices.timeline import TimelineEvent

from .models import ExportItem, ExportStatus


def basis_events(basis: InvoiceBasis) -> list[TimelineEvent]:
    items = (
        ExportItem.objects.filter(basis_id=basis.pk)
        .select_related("export", "export__created_by")
        .order_by("export__created_at", "export_id")
    )
    events = []
    for item in items:
        export = item.export
        details = []
        if export.file_name:
            details.append(_("Fil: %(name)s") % {"name": export.file_name})
        if item.order_id is not None:
            details.append(_("Ordrenummer: %(id)s") % {"id": item.order_id})
        if export.override:
            details.append(_("Overstyrt: %(reason)s") % {"reason": export.override_reason})
        if export.status == ExportStatus.DONE:
            if export.is_test:
                title, kind = _("Med i en testfil (låser ikke grunnlaget)"), "waiting"
            elif export.override:
                title, kind = _("Eksportert på nytt (overstyring)"), "exported"
            else:
                title, kind = _("Eksportert"), "exported"
            at = export.finished_at or export.created_at
        else:
            title, kind, at = _("Eksport startet"), "waiting", export.created_at
        events.append(
            TimelineEvent(
                at,
                title,
                kind,
                export.created_by.get_username() if export.created_by else "",
                tuple(details),
                (
                    (
                        reverse("exports:detail", args=[export.pk]),
                        _("Eksport %(name)s") % {"name": export.file_name or f"#{export.pk}"},
                    ),
                ),
                code=export.status,
            )
        )
    return events
