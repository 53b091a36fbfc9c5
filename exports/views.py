"""Export pages: start an export, follow it, read its report, download its file, the history,
the superbruker's override, and the systemadministrator's export profile.

Every object is fetched through `invoices.access`, so another municipality's export is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core import params
from core.paging import Paginator
from invoices.access import (
    ADMIN_ROLES,
    BILLING_ROLES,
    TEST_TRANSFER_ROLES,
    Access,
    get_for_access,
    require_access,
    scoped,
)
from invoices.forms import AccountingSettingsForm
from invoices.models import BasisStatus, InvoiceBasis, TransferRoute
from invoices.selection import MonthSelection
from invoices.services import BasisActionError, accounting_settings_get, accounting_settings_update

from .findings import grouped
from .forms import PROFILE_SECTIONS, ExportProfileForm, OverrideExportForm, StartExportForm
from .models import Export, ExportFormat, ExportItem, ExportProfile
from .services import (
    ExportError,
    ExportIntegrityError,
    export_create,
    export_download,
    export_profile_get,
    export_profile_update,
)

HISTORY_PAGE = 50
ITEMS_PAGE = 100


def _export_for(access: Access, pk: int) -> Export:
    return get_for_access(
        Export.objects.select_related("municipality", "unit", "created_by"), access, pk=pk
    )


def _default_format(route: str) -> str:
    return ExportFormat.AGRESSO if route == TransferRoute.AGRESSO_FILE else ExportFormat.VISMA


def _box_context(access: Access, selection: MonthSelection) -> dict[str, Any]:
    """What the file channel would take from the selection, and how."""
    count, total = selection.totals(access.municipality, BasisStatus.APPROVED)
    profile = export_profile_get(access.municipality)
    route = accounting_settings_get(access.municipality).transfer_route
    pending = (
        scoped(Export.objects.all(), access)
        .filter(period=selection.period, status__in=["queued", "running"])
        .order_by("-pk")
        .first()
    )
    return {
        "selection": selection,
        "period": selection.period,
        "unit_code": selection.unit.code if selection.unit else "",
        "service_code": selection.service.code if selection.service else "",
        "count": count,
        "total": total,
        "profile": profile,
        "default_format": _default_format(route),
        "formats": ExportFormat.choices,
        "file_route": route != TransferRoute.VISMA_API,
        "can_test": access.can(TEST_TRANSFER_ROLES),
        "pending": pending,
    }


@login_required
@require_GET
@params.answers_bad_parameters
def period_preview(request: HttpRequest) -> HttpResponse:
    """The *Last ned eksportfil* box on the invoice list: what would go, and the button."""
    access = require_access(request, BILLING_ROLES)
    selection = MonthSelection.from_data(access.municipality, request.GET)
    return render(request, "exports/_period_preview.html", _box_context(access, selection))


@login_required
@require_http_methods(["GET", "POST"])
@params.answers_bad_parameters
def export_start(request: HttpRequest) -> HttpResponse:
    """GET: the confirmation (the selection, how many approved bases, their total, the format).
    POST: ask for the export of exactly that selection."""
    access = require_access(request, BILLING_ROLES)
    if request.method == "GET":
        selection = MonthSelection.from_data(access.municipality, request.GET)
        return render(request, "exports/start_confirm.html", _box_context(access, selection))
    form = StartExportForm(request.POST)
    back = reverse("invoices:list")
    if not form.is_valid():
        messages.error(request, _("Ugyldig valg: sjekk periode og format."))
        return redirect(back)
    data = form.cleaned_data
    selection = MonthSelection.from_data(access.municipality, data)
    back = f"{back}?{urlencode({'period': data['period']})}"
    if not selection.valid:
        messages.error(request, _("Ukjent enhet eller tjeneste."))
        return redirect(back)
    try:
        export = export_create(
            access.municipality,
            period=selection.period,
            fmt=data["format"],
            unit=selection.unit,
            service=selection.service,
            actor=request.user,
            is_test=data["is_test"],
        )
    except ExportError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    return redirect("exports:detail", pk=export.pk)


def _detail_context(access: Access, export: Export) -> dict[str, Any]:
    errors = sorted(export.errors, key=lambda f: (f.get("basis_pk") or 0, str(f.get("field"))))
    return {
        "export": export,
        "errors": errors,
        "error_groups": grouped(errors),
        "warning_groups": grouped(export.warnings),
        "warnings": export.warnings,
        "hidden_findings": max(0, export.error_count + export.warning_count - len(export.findings)),
        "can_override": access.can(TEST_TRANSFER_ROLES),
        "has_already_exported": any(f.get("code") == "already_exported" for f in errors),
    }


@login_required
@require_GET
@params.answers_bad_parameters
def export_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    export = _export_for(access, pk)
    context = _detail_context(access, export)
    items = (
        ExportItem.objects.filter(export=export)
        .select_related("basis", "basis__payer")
        .order_by("basis_id", "pk")
    )
    context["items"] = Paginator(items, ITEMS_PAGE).get_page(params.page(request.GET, "side"))
    return render(request, "exports/export_detail.html", context)


@login_required
@require_GET
def export_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The htmx fragment the progress page polls; a finished export reloads the whole page."""
    access = require_access(request, BILLING_ROLES)
    export = _export_for(access, pk)
    response = render(request, "exports/_progress.html", _detail_context(access, export))
    if export.is_finished and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


def _download(request: HttpRequest, pk: int, *, customers: bool) -> HttpResponseBase:
    access = require_access(request, BILLING_ROLES)
    export = _export_for(access, pk)
    if customers and not export.customer_file:
        raise Http404  # this export made no CS15 file: nothing is missing
    try:
        handle, file_name = export_download(export, actor=request.user, customers=customers)
    except ExportIntegrityError:
        return render(request, "exports/integrity_error.html", {"export": export}, status=409)
    response = FileResponse(
        handle, as_attachment=True, filename=file_name, content_type="application/octet-stream"
    )
    response["Cache-Control"] = "no-store"
    response["X-Content-SHA256"] = export.customer_sha256 if customers else export.sha256
    return response


@login_required
@require_GET
def download(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _download(request, pk, customers=False)


@login_required
@require_GET
def download_customers(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _download(request, pk, customers=True)


@login_required
@require_GET
@params.answers_bad_parameters
def history(request: HttpRequest) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    exports = scoped(Export.objects.select_related("created_by", "unit"), access).order_by(
        "-created_at", "-pk"
    )
    page = Paginator(exports, HISTORY_PAGE).get_page(params.page(request.GET, "side"))
    return render(
        request,
        "exports/history.html",
        {"page": page, "can_override": access.can(TEST_TRANSFER_ROLES)},
    )


@login_required
@require_http_methods(["GET", "POST"])
@params.answers_bad_parameters
def override(request: HttpRequest) -> HttpResponse:
    access = require_access(request, TEST_TRANSFER_ROLES)
    if request.method == "POST":
        form = OverrideExportForm(request.POST, municipality=access.municipality)
        if form.is_valid():
            ids = form.cleaned_data["references"]
            periods = set(
                scoped(InvoiceBasis.objects.all(), access)
                .filter(pk__in=ids)
                .values_list("period", flat=True)
            )
            if len(periods) != 1:
                form.add_error(
                    "references",
                    _("Fant ikke grunnlagene.")
                    if not periods
                    else _("Alle grunnlagene må være fra samme periode."),
                )
            else:
                try:
                    export = export_create(
                        access.municipality,
                        period=periods.pop(),
                        fmt=form.cleaned_data["format"],
                        basis_ids=ids,
                        actor=request.user,
                        override_reason=form.cleaned_data["reason"],
                    )
                except ExportError as exc:
                    form.add_error(None, str(exc))
                else:
                    return redirect("exports:detail", pk=export.pk)
    else:
        route = accounting_settings_get(access.municipality).transfer_route
        initial: dict[str, Any] = {"format": _default_format(route)}
        basis_pk = params.integer(request.GET, "grunnlag")
        if basis_pk is not None:
            basis = scoped(InvoiceBasis.objects.all(), access).filter(pk=basis_pk).first()
            if basis is not None:
                initial["references"] = basis.reference
        form = OverrideExportForm(initial=initial, municipality=access.municipality)
    return render(request, "exports/override.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest) -> HttpResponse:
    """The file channel's settings and, beside them, the municipality's accounting settings that
    both channels read: two forms on one page, saved together or not at all."""
    access = require_access(request, ADMIN_ROLES)
    municipality = access.municipality
    profile = export_profile_get(municipality)
    accounting = accounting_settings_get(municipality)
    if request.method == "POST":
        acc_form = AccountingSettingsForm(
            request.POST, instance=accounting, municipality=municipality
        )
        route = acc_form.cleaned_data["transfer_route"] if acc_form.is_valid() else None
        form = ExportProfileForm(
            request.POST, instance=profile, municipality=municipality, route=route
        )
        if form.is_valid() and acc_form.is_valid():
            try:
                with transaction.atomic():
                    accounting_settings_update(
                        municipality, values=acc_form.values(), actor=request.user
                    )
                    export_profile_update(
                        ExportProfile.objects.get(pk=profile.pk),
                        values=form.values(),
                        actor=request.user,
                    )
            except ValidationError as exc:
                _add_errors(exc, form, acc_form)
            except (ExportError, BasisActionError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Eksportoppsettet er lagret."))
                return redirect("exports:profile")
    else:
        acc_form = AccountingSettingsForm(instance=accounting, municipality=municipality)
        form = ExportProfileForm(instance=profile, municipality=municipality)
    sections = [
        (title, [form[name] if name in form.fields else acc_form[name] for name in names])
        for title, names in PROFILE_SECTIONS
    ]
    return render(
        request,
        "exports/profile_form.html",
        {
            "form": form,
            "accounting_form": acc_form,
            "sections": sections,
            "profile": ExportProfile.objects.get(pk=profile.pk),
        },
    )


def _add_errors(exc: ValidationError, *forms: Any) -> None:
    """A model's own check, shown under the field of whichever form has it."""
    if not hasattr(exc, "error_dict"):
        forms[0].add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        owner = next((f for f in forms if field in f.fields), None)
        if owner is None:
            forms[0].add_error(None, errors)
        else:
            owner.add_error(field, errors)
