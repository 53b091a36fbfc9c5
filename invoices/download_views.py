"""Downloads of the month and of the Kontrollrapport, as CSV and as XLSX (`downloads.py` says what
is in them). Each answers to the same roles as its page and reads the same selection; a GET
changes nothing but the audit trail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from core.tabular import csv_response, table_response, xlsx_response

from .access import BILLING_ROLES, VIEW_ROLES, Access, require_access
from .downloads import MonthDownload, audit_download, report_numbers, report_table
from .models import BasisStatus
from .selection import MonthSelection
from .validation import validate_stored


def _month(request: HttpRequest, access: Access) -> MonthDownload:
    selection = MonthSelection.from_data(access.municipality, request.GET)
    status = request.GET.get("status", "")
    status = status if status in BasisStatus.values else ""
    bases = selection.bases(access.municipality)
    if status:
        bases = bases.filter(status=status)
    return MonthDownload(
        selection=selection,
        municipality_number=access.municipality.number,
        bases=bases,
        status=status,
        full_ids=access.sees_full_national_ids,
    )


def _audit_month(
    request: HttpRequest, access: Access, month: MonthDownload, file_name: str, rows: int
) -> None:
    audit_download(
        "month",
        actor=request.user,
        municipality=access.municipality,
        file_name=file_name,
        rows=rows,
        full_national_ids=month.full_ids,
        **month.selection.as_query(),
        **({"status": month.status} if month.status else {}),
    )


@login_required
@require_GET
def month_bases_csv(request: HttpRequest) -> HttpResponseBase:
    access = require_access(request, VIEW_ROLES)
    month = _month(request, access)
    file_name = month.file_name("fakturagrunnlag", "csv")
    _audit_month(request, access, month, file_name, month.counts()[0])
    return csv_response(month.bases_table(), file_name)


@login_required
@require_GET
def month_lines_csv(request: HttpRequest) -> HttpResponseBase:
    access = require_access(request, VIEW_ROLES)
    month = _month(request, access)
    file_name = month.file_name("fakturalinjer", "csv")
    _audit_month(request, access, month, file_name, month.counts()[1])
    return csv_response(month.lines_table(), file_name)


@login_required
@require_GET
def month_xlsx(request: HttpRequest) -> HttpResponseBase:
    access = require_access(request, VIEW_ROLES)
    month = _month(request, access)
    file_name = month.file_name("fakturagrunnlag", "xlsx")
    _audit_month(request, access, month, file_name, sum(month.counts()))
    return xlsx_response([month.bases_table(), month.lines_table()], file_name)


def _report(request: HttpRequest, extension: str) -> HttpResponseBase:
    access = require_access(request, BILLING_ROLES)
    selection = MonthSelection.from_data(access.municipality, request.GET)
    # The bases the page checks: received and approved ones of the selection.
    checked = selection.bases(access.municipality).filter(
        status__in=[BasisStatus.RECEIVED, BasisStatus.APPROVED]
    )
    reports = validate_stored(access.municipality, checked) if selection.valid else {}
    number = access.municipality.number
    month = MonthDownload(selection, number, checked)
    file_name = month.file_name("kontrollrapport", extension)
    audit_download(
        "validation_report",
        actor=request.user,
        municipality=access.municipality,
        file_name=file_name,
        rows=sum(len(r.issues) for r in reports.values()),
        **report_numbers(reports),
        **selection.as_query(),
    )
    return table_response(report_table(reports, checked, number), file_name, extension)


@login_required
@require_GET
def validation_report_csv(request: HttpRequest) -> HttpResponseBase:
    return _report(request, "csv")


@login_required
@require_GET
def validation_report_xlsx(request: HttpRequest) -> HttpResponseBase:
    return _report(request, "xlsx")
