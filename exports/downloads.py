"""The export history as CSV and XLSX: one row per export, as the history page shows them, with a
total line. It names staff, files and checksums but no citizen, so it is not audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core.tabular import Column, Kind, Table, Total, table_response, today_in_norway
from invoices.access import BILLING_ROLES, require_access, scoped

from .models import AgressoLayout, Export, ExportFormat, ExportStatus, VismaLayout

CHUNK = 1000


def history_table(exports: QuerySet[Export]) -> Table:
    columns = [
        Column(_("Nr."), Kind.INTEGER, 7),
        Column(_("Laget"), Kind.DATETIME, 17),
        Column(_("Av"), Kind.TEXT, 16),
        Column(_("Format"), Kind.TEXT, 18),
        Column(_("Variant"), Kind.TEXT, 18),
        Column(_("Periode"), Kind.CODE, 9),
        Column(_("Enhet"), Kind.CODE, 12),
        Column(_("Tjeneste"), Kind.CODE, 10),
        Column(_("Status"), Kind.TEXT, 20),
        Column(_("Test"), Kind.TEXT, 6),
        Column(_("Overstyrt"), Kind.TEXT, 10),
        Column(_("Begrunnelse"), Kind.TEXT, 30),
        Column(_("Antall grunnlag"), Kind.INTEGER, 10),
        Column(_("Sum kr"), Kind.MONEY, 14),
        Column(_("Fil"), Kind.TEXT, 34),
        Column(_("Kundefil"), Kind.TEXT, 34),
        Column(_("SHA-256"), Kind.CODE, 66),
        Column(_("Ferdig"), Kind.DATETIME, 17),
    ]
    return Table(_("Eksporthistorikk"), columns, _rows(exports))


def _rows(exports: QuerySet[Export]) -> Iterator[tuple[Any, ...]]:
    formats = dict(ExportFormat.choices)
    layouts = {**dict(VismaLayout.choices), **dict(AgressoLayout.choices)}
    statuses = dict(ExportStatus.choices)
    yes = _("Ja")
    rows = (
        exports.order_by("-created_at", "-pk")
        .values_list(
            "pk",
            "created_at",
            "created_by__username",
            "format",
            "layout",
            "period",
            "unit__code",
            "service__code",
            "status",
            "is_test",
            "override",
            "override_reason",
            "count",
            "total_ore",
            "file_name",
            "customer_file_name",
            "sha256",
            "finished_at",
        )
        .iterator(chunk_size=CHUNK)
    )
    exports_seen = bases = total = 0
    for (
        pk,
        created,
        user,
        fmt,
        layout,
        period,
        unit,
        service,
        status,
        is_test,
        override,
        reason,
        count,
        total_ore,
        file_name,
        customer_file,
        sha256,
        finished,
    ) in rows:
        done = status == ExportStatus.DONE
        exports_seen += 1
        # Like the page: a count and a sum only for a finished file.
        if done:
            bases += count
            total += total_ore
        yield (
            pk,
            created,
            user or "",
            str(formats.get(fmt, fmt)),
            str(layouts.get(layout, layout)),
            period,
            unit or "",
            service or "",
            str(statuses.get(status, status)),
            yes if is_test else "",
            yes if override else "",
            reason,
            count if done else None,
            total_ore if done else None,
            file_name if done else "",
            customer_file if done else "",
            sha256,
            finished,
        )
    label = _("Sum, %(count)d eksporter") % {"count": exports_seen}
    yield Total((label, *[None] * 11, bases, total, "", "", "", None))


def _file_name(number: str, extension: str) -> str:
    return f"eksporthistorikk_{number}_{today_in_norway()}.{extension}"


def _history(request: HttpRequest, extension: str) -> HttpResponseBase:
    access = require_access(request, BILLING_ROLES)
    table = history_table(scoped(Export.objects.all(), access))
    return table_response(table, _file_name(access.municipality.number, extension), extension)


@login_required
@require_GET
def history_csv(request: HttpRequest) -> HttpResponseBase:
    return _history(request, "csv")


@login_required
@require_GET
def history_xlsx(request: HttpRequest) -> HttpResponseBase:
    return _history(request, "xlsx")
