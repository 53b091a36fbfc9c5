"""Pages of the anomaly warnings: the section the Kontrollrapport loads, the month's warnings on
a page of their own, acknowledging, computing a month that never was, a payer's history, and the
thresholds page. Every page reads stored findings only (`invoices.anomalies`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import params
from core.paging import Paginator

from . import anomalies
from .access import (
    ADMIN_ROLES,
    BILLING_ROLES,
    Access,
    get_for_access,
    require_access,
    scoped,
)
from .anomaly_forms import AnomalySettingsForm
from .models import Anomaly, AnomalyKind, BasisKind, InvoiceBasis, Party, Unit

SECTION_ROWS = 10  # per kind in the section; the page of one kind shows them all
PAGE_SIZE = 100


def _month(access: Access, data: QueryDict) -> tuple[str, str, Unit | None, bool]:
    """Period (the latest with bases if none is given), unit code, the unit, and whether the
    unit code is unknown (then nothing is shown rather than everything)."""
    period = params.period(data) or (
        scoped(InvoiceBasis.objects.all(), access)
        .order_by("-period")
        .values_list("period", flat=True)
        .first()
        or ""
    )
    unit_code = params.code(data, "unit")
    unit = scoped(Unit.objects.filter(code=unit_code), access).first() if unit_code else None
    return period, unit_code, unit, bool(unit_code) and unit is None


def _query(**values: str) -> str:
    return urlencode({k: v for k, v in values.items() if v})


def _back(period: str, unit_code: str, place: str) -> str:
    """Where forms in the section return to: the Kontrollrapport or the warnings page."""
    if place == "report":
        url = reverse("invoices:validation_report") + "?" + _query(period=period, unit=unit_code)
        return url + "#anomalies"
    return reverse("invoices:anomalies") + "?" + _query(period=period, unit=unit_code)


def _section_context(
    request: HttpRequest, access: Access, period: str, unit_code: str, unit: Unit | None, place: str
) -> dict[str, Any]:
    summary = anomalies.for_period(access.municipality, period, unit)
    groups = []
    if summary.computed:
        for count in summary.counts:
            rows = list(summary.rows.filter(kind=count.kind)[:SECTION_ROWS])
            groups.append({"count": count, "rows": rows, "more": count.total > len(rows)})
    return {
        "summary": summary,
        "groups": groups,
        "period": period,
        "unit_code": unit_code,
        "place": place,
        "back": _back(period, unit_code, place),
        "can_ack": access.can(BILLING_ROLES),
        "can_compute": access.can(BILLING_ROLES),
        "section_url": reverse("invoices:anomaly_section")
        + "?"
        + _query(period=period, unit=unit_code, place=place),
        "page_url": reverse("invoices:anomalies") + "?" + _query(period=period, unit=unit_code),
    }


@login_required
@require_GET
@params.answers_bad_parameters
def anomaly_section(request: HttpRequest) -> HttpResponse:
    """The month's warnings grouped by kind: loaded into the Kontrollrapport by htmx."""
    access = require_access(request)
    period, unit_code, unit, unknown_unit = _month(access, request.GET)
    place = params.choice(request.GET, "place", ("report", "page"), default="page")
    context = _section_context(request, access, period, unit_code, unit, place)
    context["unknown_unit"] = unknown_unit
    return render(request, "invoices/anomalies/_section.html", context)


@login_required
@require_GET
@params.answers_bad_parameters
def anomaly_page(request: HttpRequest) -> HttpResponse:
    """The warnings on a page of their own (every role may read them); `kind` lists all of one
    kind, a hundred at a time."""
    access = require_access(request)
    period, unit_code, unit, unknown_unit = _month(access, request.GET)
    context = _section_context(request, access, period, unit_code, unit, "page")
    context["unknown_unit"] = unknown_unit
    kind = params.choice(request.GET, "kind", AnomalyKind.values)
    page = params.page(request.GET)
    if kind and period and not unknown_unit:
        context["kind"] = kind
        context["kind_label"] = AnomalyKind(kind).label
        context["kind_page"] = Paginator(
            anomalies.findings(access.municipality, period, unit).filter(kind=kind), PAGE_SIZE
        ).get_page(page)
        context["back"] = (
            reverse("invoices:anomalies")
            + "?"
            + _query(period=period, unit=unit_code, kind=kind, page=str(page) if page > 1 else "")
        )
    context["units"] = scoped(Unit.objects.all(), access)
    return render(request, "invoices/anomalies/page.html", context)


def _return_to(request: HttpRequest) -> str:
    return params.local_url(request, request.POST, "next", default=reverse("invoices:anomalies"))


@login_required
@require_POST
@params.answers_bad_parameters
def anomaly_compute(request: HttpRequest) -> HttpResponse:
    """Ask for the month's warnings to be computed (in the background, not in this request)."""
    access = require_access(request, BILLING_ROLES)
    period = params.period(request.POST)
    if not period:
        messages.error(request, _("Velg en periode først."))
        return redirect(_return_to(request))
    anomalies.schedule_refresh(access.municipality.pk, [period])
    messages.success(
        request,
        _("Avviksvarslene for %(period)s beregnes nå. Siden viser dem når de er klare.")
        % {"period": period},
    )
    return redirect(_return_to(request))


@login_required
@require_POST
@params.answers_bad_parameters
def anomaly_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    anomaly = get_for_access(Anomaly.objects.select_related("municipality"), access, pk=pk)
    # Control characters are a 400; a note too long is the service's to explain (its limit).
    note = params.text(request.POST, "note", max_length=20_000, multiline=True)
    try:
        anomalies.anomaly_acknowledge(anomaly, note, request.user)
    except anomalies.AnomalyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Varselet er kvittert ut."))
    return redirect(_return_to(request))


@login_required
@require_POST
@params.answers_bad_parameters
def anomaly_unacknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    anomaly = get_for_access(Anomaly.objects.select_related("municipality"), access, pk=pk)
    try:
        anomalies.anomaly_unacknowledge(anomaly, request.user)
    except anomalies.AnomalyError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Kvitteringen er angret; varselet er åpent igjen."))
    return redirect(_return_to(request))


@login_required
@require_GET
@params.answers_bad_parameters
def payer_history(request: HttpRequest, pk: int) -> HttpResponse:
    """One payer's bases across periods, with the month totals the warnings compare (every
    status, invoices and credit notes netted) and the warnings about them."""
    access = require_access(request)
    payer = get_for_access(Party.objects.all(), access, pk=pk)
    bases = scoped(InvoiceBasis.objects.filter(payer=payer), access)
    months = (
        bases.order_by()
        .values("period")
        .annotate(
            count=Count("id"),
            credits=Count("id", filter=Q(kind=BasisKind.CREDIT)),
            total=Sum("total_ore"),
        )
        .order_by("-period")
    )
    page = Paginator(bases.select_related("unit").order_by("-period", "-id"), PAGE_SIZE).get_page(
        params.page(request.GET)
    )
    warnings = scoped(Anomaly.objects.filter(payer=payer), access).order_by("-period", "kind")[:50]
    return render(
        request,
        "invoices/anomalies/payer.html",
        {"payer": payer, "months": months, "page": page, "warnings": warnings},
    )


@login_required
@require_http_methods(["GET", "POST"])
def anomaly_settings(request: HttpRequest) -> HttpResponse:
    """The municipality's thresholds (systemadministrator). Changes are audited before/after."""
    access = require_access(request, ADMIN_ROLES)
    current = anomalies.anomaly_settings_get(access.municipality)
    if request.method == "POST":
        form = AnomalySettingsForm(request.POST)
        if form.is_valid():
            try:
                anomalies.anomaly_settings_update(
                    access.municipality, values=form.values(), actor=request.user
                )
            except anomalies.AnomalyError as exc:
                form.add_error(None, exc.message)
            except ValidationError as exc:  # the model's own limits, should the form's drift
                form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Tersklene for avviksvarsler er lagret."))
                return redirect("anomaly_settings")
    else:
        form = AnomalySettingsForm(initial=AnomalySettingsForm.initial_from(current))
    return render(request, "invoices/anomalies/settings.html", {"form": form, "current": current})
