"""Pages for billing staff: the month per unit and service, each basis in detail, approval and
its validation report; and the API-key page for the systemadministrator."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from core import params
from core.db import among
from core.paging import Paginator

from . import search
from .access import (
    ADMIN_ROLES,
    BILLING_ROLES,
    Access,
    get_access,
    get_for_access,
    get_invoice_basis_for_user,
    require_access,
    scoped,
    set_active_municipality,
)
from .credit import balance_for
from .forms import ApiTokenForm
from .models import (
    ApiToken,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Role,
    ServiceMonthTotal,
    Unit,
)
from .selection import MonthSelection
from .services import (
    BasisActionError,
    api_token_create,
    api_token_revoke,
    invoice_basis_approve,
    invoice_basis_delete,
    invoice_basis_unapprove,
)
from .templatetags.money import money
from .timeline import basis_timeline
from .validation import validate_stored

PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    access = get_access(request)
    if access is None:
        return render(request, "no_access.html", status=403)
    if access.role == Role.SYSTEMADMINISTRATOR:
        return redirect("invoices:list")
    return redirect("overview")


@login_required
@require_POST
@params.answers_bad_parameters
def switch_municipality(request: HttpRequest) -> HttpResponse:
    municipality_id = params.integer(request.POST, "municipality", required=True)
    assert municipality_id is not None
    set_active_municipality(request, municipality_id)
    return redirect("home")


def _list_selection(request: HttpRequest, access: Access) -> tuple[QuerySet[InvoiceBasis], dict]:
    """The bases the list's filters select, and the filter values (shared by list and summary).

    With a search (`sok`, a token for a term kept in the session) the list searches every period
    unless a period is chosen too; without one it shows a month (the newest by default)."""
    token = params.text(request.GET, "sok", max_length=32)
    term = search.recall(request, token) if token else ""
    period = params.period(request.GET)
    if not period and not term:
        period = (
            scoped(InvoiceBasis.objects.all(), access)
            .order_by("-period")
            .values_list("period", flat=True)
            .first()
            or ""
        )
    filters = {
        "period": period,
        "unit": params.code(request.GET, "unit"),
        "status": params.choice(request.GET, "status", BasisStatus.values),
        "service": params.code(request.GET, "service"),
        "sok": token if term else "",
    }
    selected = scoped(InvoiceBasis.objects.all(), access)
    if period:
        selected = selected.filter(period=period)
    if term:
        selected = selected.filter(search.matching(access.municipality, term))
    if filters["unit"]:
        selected = selected.filter(unit__code=filters["unit"])
    if filters["status"]:
        selected = selected.filter(status=filters["status"])
    if filters["service"]:
        selected = selected.filter(
            pk__in=InvoiceLine.objects.filter(service__code=filters["service"]).values("basis_id")
        )
    filters["term"] = term
    return selected, filters


@login_required
@require_POST
@params.answers_bad_parameters
def basis_search(request: HttpRequest) -> HttpResponse:
    """The search form posts here, so a fødselsnummer never stands in a URL: the term is kept in
    the session and the list is shown for its token, with the list's other filters."""
    require_access(request)
    term = " ".join(params.text(request.POST, "q", max_length=search.MAX_TERM).split())
    query = {
        key: value
        for key in ("unit", "status", "service", "period")
        if (value := params.text(request.POST, key, max_length=32))
    }
    if term:
        query["sok"] = search.remember(request, term)
    return redirect(reverse("invoices:list") + ("?" + urlencode(query) if query else ""))


@login_required
@params.answers_bad_parameters
def basis_list(request: HttpRequest) -> HttpResponse:
    """One page of the selected bases. Its cost does not grow with the month: the page fetches 50
    ids first and then only those rows; the month's sums come in a separate request (below)."""
    access = require_access(request)
    selected, filters = _list_selection(request, access)
    periods = list(
        scoped(InvoiceBasis.objects.all(), access)
        .order_by("-period")
        .values_list("period", flat=True)
        .distinct()[:36]
    )
    page = Paginator(selected.order_by("id").values_list("id", flat=True), PAGE_SIZE).get_page(
        params.page(request.GET)
    )
    rows = InvoiceBasis.objects.filter(pk__in=list(page.object_list)).select_related(
        "unit", "payer"
    )
    query = {k: v for k, v in filters.items() if v and k != "term"}
    return render(
        request,
        "invoices/basis_list.html",
        {
            "page": page,
            "rows": rows.order_by("id"),
            "periods": periods,
            "period": filters["period"],
            "units": scoped(Unit.objects.all(), access),
            "services": access.municipality.services.all(),
            "statuses": BasisStatus.choices,
            "filters": filters,
            "filter_query": urlencode(query),
            # What approval, export and send act on: the page's period, unit and service.
            "selection_query": urlencode(
                {k: filters[k] for k in ("period", "unit", "service") if filters[k]}
            ),
            "can_bill": access.can(BILLING_ROLES),
            "searching": bool(filters["term"]),
        },
    )


@login_required
@params.answers_bad_parameters
def basis_list_summary(request: HttpRequest) -> HttpResponse:
    """The numbers a billing admin checks for the selection: count and total per status, per unit
    and per service. Loaded into the list page by htmx, so paging never waits for the sums."""
    access = require_access(request)
    selected, filters = _list_selection(request, access)
    by_status = {
        row["status"]: row
        for row in selected.order_by()
        .values("status")
        .annotate(count=Count("id"), total=Sum("total_ore"))
    }
    by_unit = (
        selected.order_by()
        .values("unit__code", "unit__name")
        .annotate(count=Count("id"), total=Sum("total_ore"))
        .order_by("unit__code")
    )
    if filters["service"] or filters["term"]:
        # A search, or bases with a line of the service (which may have other services' lines
        # too): read the selected bases' lines. The ids are read first: as a subquery inside the
        # selection's own subquery, PostgreSQL may plan the two as nested loops over every line
        # (minutes for a month whose statistics are not yet gathered, as right after an import).
        ids = list(selected.order_by().values_list("pk", flat=True))
        by_service = list(
            InvoiceLine.objects.filter(among("basis__id", ids))
            .order_by()
            .values("service__code", "service__name")
            .annotate(count=Count("id"), total=Sum("amount_ore"))
            .order_by("service__code")
        )
    else:
        # The whole month (or unit, or status) per service: from the month totals, not from
        # its 100 000 lines.
        kept = ServiceMonthTotal.objects.filter(
            municipality=access.municipality, period=filters["period"]
        )
        if filters["unit"]:
            kept = kept.filter(unit__code=filters["unit"])
        if filters["status"]:
            kept = kept.filter(status=filters["status"])
        by_service = list(
            kept.order_by()
            .values("service__code", "service__name")
            .annotate(count=Sum("lines"), total=Sum("total_ore"))
            .order_by("service__code")
        )
    return render(
        request,
        "invoices/_list_summary.html",
        {
            "totals": {
                "count": sum(row["count"] for row in by_status.values()),
                "total": sum(row["total"] or 0 for row in by_status.values()),
            },
            "by_status": [
                (label, by_status.get(value, {"count": 0, "total": 0}))
                for value, label in BasisStatus.choices
            ],
            "by_unit": by_unit,
            "by_service": by_service,
            "filters": filters,
        },
    )


@login_required
def basis_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request)
    basis = get_invoice_basis_for_user(access, pk)
    can_bill = access.can(BILLING_ROLES)
    report = None
    if can_bill and basis.status in (BasisStatus.RECEIVED, BasisStatus.APPROVED):
        report = validate_stored(access.municipality, InvoiceBasis.objects.filter(pk=basis.pk)).get(
            basis.pk
        )
    # The lines and the credit notes come with what is left to credit (constant queries).
    balance = balance_for(basis)
    return render(
        request,
        "invoices/basis_detail.html",
        {
            "basis": basis,
            "balance": balance,
            "lines": balance.lines,
            "credit_notes": balance.notes,
            "timeline": basis_timeline(basis, balance.notes, role=access.role),
            "show_full_id": access.sees_full_national_ids,
            "can_bill": can_bill,
            "can_credit": balance.creditable,
            "report": report,
        },
    )


# --- approval ------------------------------------------------------------------------------------


def _list_url(selection: MonthSelection) -> str:
    query = selection.query_string() if selection.valid else ""
    return reverse("invoices:list") + ("?" + query if query else "")


def _report_url(selection: MonthSelection) -> str:
    return reverse("invoices:validation_report") + "?" + selection.query_string()


@login_required
@require_POST
@params.answers_bad_parameters
def period_approve(request: HttpRequest) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    selection = MonthSelection.from_data(access.municipality, request.POST)
    if not selection.valid:
        messages.error(request, _("Velg en periode først."))
        return redirect("invoices:list")
    result = invoice_basis_approve(
        selection.bases(access.municipality).filter(status=BasisStatus.RECEIVED), request.user
    )
    _approval_messages(request, result.approved, result.total_ore, len(result.invalid))
    if result.invalid:
        return redirect(_report_url(selection))
    return redirect(_list_url(selection))


def _approval_messages(request: HttpRequest, approved: int, total_ore: int, invalid: int) -> None:
    if approved:
        messages.success(
            request,
            ngettext(
                "%(count)d fakturagrunnlag godkjent, til sammen %(sum)s.",
                "%(count)d fakturagrunnlag godkjent, til sammen %(sum)s.",
                approved,
            )
            % {"count": approved, "sum": money(total_ore)},
        )
    if invalid:
        messages.error(
            request,
            ngettext(
                "%(count)d grunnlag har feil og ble ikke godkjent.",
                "%(count)d grunnlag har feil og ble ikke godkjent.",
                invalid,
            )
            % {"count": invalid},
        )
    if not approved and not invalid:
        messages.info(request, _("Ingen mottatte grunnlag å godkjenne i utvalget."))


@login_required
@require_POST
@params.answers_bad_parameters
def period_unapprove(request: HttpRequest) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    selection = MonthSelection.from_data(access.municipality, request.POST)
    if not selection.valid:
        messages.error(request, _("Velg en periode først."))
        return redirect("invoices:list")
    count = invoice_basis_unapprove(
        selection.bases(access.municipality).filter(status=BasisStatus.APPROVED), request.user
    )
    if count:
        messages.success(
            request,
            ngettext(
                "Godkjenningen er trukket for %(count)d grunnlag.",
                "Godkjenningen er trukket for %(count)d grunnlag.",
                count,
            )
            % {"count": count},
        )
    else:
        messages.info(request, _("Ingen godkjente grunnlag som kan trekkes tilbake i utvalget."))
    return redirect(_list_url(selection))


REPORT_PAGE_SIZE = 100


@login_required
@params.answers_bad_parameters
def validation_report(request: HttpRequest) -> HttpResponse:
    """Every finding for the received and approved bases of a period (and unit), per basis."""
    access = require_access(request, BILLING_ROLES)
    selection = MonthSelection.from_data(access.municipality, request.GET)
    show_all = params.choice(request.GET, "vis", ["alle"]) == "alle"
    checked = selection.bases(access.municipality).filter(
        status__in=[BasisStatus.RECEIVED, BasisStatus.APPROVED]
    )
    reports = validate_stored(access.municipality, checked) if selection.valid else {}
    with_findings = [r for r in reports.values() if r.issues]
    by_code = Counter(
        (issue.severity, issue.code, issue.message)
        for report in with_findings
        for issue in report.issues
    )
    shown = sorted(
        (r for r in with_findings if show_all or r.blocking),
        key=lambda r: (not r.blocking, r.basis_id),
    )
    return render(
        request,
        "invoices/validation_report.html",
        {
            "period": selection.period,
            "unit_code": selection.unit.code if selection.unit else "",
            "selection": selection,
            "show_all": show_all,
            "checked": len(reports),
            "blocking": sum(1 for r in with_findings if r.blocking),
            "warned": sum(1 for r in with_findings if r.warnings),
            "by_code": sorted(by_code.items(), key=lambda item: (item[0][0], -item[1])),
            "page": Paginator(shown, REPORT_PAGE_SIZE).get_page(params.page(request.GET)),
            "list_url": _list_url(selection),
        },
    )


@login_required
@params.answers_bad_parameters
def validation_summary(request: HttpRequest) -> HttpResponse:
    """The count of blocking errors among the received bases: loaded into the list page."""
    access = require_access(request, BILLING_ROLES)
    selection = MonthSelection.from_data(access.municipality, request.GET)
    received = selection.bases(access.municipality).filter(status=BasisStatus.RECEIVED)
    reports = validate_stored(access.municipality, received) if selection.valid else {}
    return render(
        request,
        "invoices/_validation_summary.html",
        {
            "received": len(reports),
            "blocking": sum(1 for r in reports.values() if r.blocking),
            "errors": sum(len(r.errors) for r in reports.values()),
            "warnings": sum(len(r.warnings) for r in reports.values()),
            "report_url": _report_url(selection),
        },
    )


# --- one basis -----------------------------------------------------------------------------------


@login_required
@require_POST
def basis_approve(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    basis = get_invoice_basis_for_user(access, pk)
    result = invoice_basis_approve([basis], request.user)
    if result.approved:
        messages.success(request, _("Grunnlaget er godkjent."))
    elif result.invalid:
        for issue in result.invalid[0].errors:
            messages.error(
                request, f"{issue.field}: {issue.message}" if issue.field else issue.message
            )
    else:
        messages.info(request, _("Bare mottatte grunnlag kan godkjennes."))
    return redirect("invoices:detail", pk=basis.pk)


@login_required
@require_POST
def basis_unapprove(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    basis = get_invoice_basis_for_user(access, pk)
    if invoice_basis_unapprove([basis], request.user):
        messages.success(request, _("Godkjenningen er trukket tilbake."))
    else:
        messages.info(
            request, _("Bare godkjente grunnlag som ikke er overført, kan trekkes tilbake.")
        )
    return redirect("invoices:detail", pk=basis.pk)


@login_required
@require_POST
def basis_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    basis = get_invoice_basis_for_user(access, pk)
    try:
        invoice_basis_delete(basis, request.user)
    except BasisActionError as exc:
        messages.error(request, exc.message)
        return redirect("invoices:detail", pk=basis.pk)
    messages.success(request, _("Grunnlaget %(ref)s er slettet.") % {"ref": basis.source_reference})
    return redirect(reverse("invoices:list") + "?" + urlencode({"period": basis.period}))


# --- API keys ------------------------------------------------------------------------------------


@login_required
@never_cache
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List, create and revoke the care system's API keys. A new key is shown in this one
    response only: it is neither stored nor put in the session."""
    access = require_access(request, ADMIN_ROLES)
    created = None
    form = ApiTokenForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            token, plaintext = api_token_create(
                access.municipality, form.cleaned_data["name"], request.user
            )
        except BasisActionError as exc:
            form.add_error("name", exc.message)
        else:
            created = {"token": token, "plaintext": plaintext}
            form = ApiTokenForm()
    return render(
        request,
        "invoices/api_tokens.html",
        {
            "form": form,
            "tokens": scoped(ApiToken.objects.all(), access).order_by("revoked_at", "-created_at"),
            "created": created,
            "api_url": request.build_absolute_uri(reverse("api_invoice_bases")),
        },
    )


@login_required
@require_POST
def api_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, ADMIN_ROLES)
    token = get_for_access(ApiToken.objects.all(), access, pk=pk)
    api_token_revoke(token, request.user)
    messages.success(
        request, _("API-nøkkelen «%(name)s» er trukket tilbake.") % {"name": token.name}
    )
    return redirect("api_tokens:list")
