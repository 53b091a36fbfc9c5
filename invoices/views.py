"""Pages for billing staff: the month per unit and service, and each basis in detail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .access import (
    get_access,
    get_invoice_basis_for_user,
    require_access,
    scoped,
    set_active_municipality,
)
from .models import BasisStatus, InvoiceBasis, InvoiceLine, Role, Unit

PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    access = get_access(request)
    if access is None:
        return render(request, "no_access.html", status=403)
    return redirect("invoices:list")


@login_required
@require_POST
def switch_municipality(request: HttpRequest) -> HttpResponse:
    try:
        municipality_id = int(request.POST.get("municipality", ""))
    except ValueError:
        municipality_id = 0
    set_active_municipality(request, municipality_id)
    return redirect("home")


@login_required
def basis_list(request: HttpRequest) -> HttpResponse:
    access = require_access(request)
    bases = scoped(InvoiceBasis.objects.all(), access)
    periods = list(bases.order_by("-period").values_list("period", flat=True).distinct()[:36])
    period = request.GET.get("period") or (periods[0] if periods else "")
    unit_code = request.GET.get("unit", "")
    status = request.GET.get("status", "")
    service_code = request.GET.get("service", "")

    selected = bases.filter(period=period)
    if unit_code:
        selected = selected.filter(unit__code=unit_code)
    if status in BasisStatus.values:
        selected = selected.filter(status=status)
    if service_code:
        selected = selected.filter(lines__service__code=service_code).distinct()

    totals = selected.aggregate(count=Count("id"), total=Sum("total_ore"))
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
    lines = InvoiceLine.objects.filter(basis__in=selected.values("pk"))
    by_service = (
        lines.order_by()
        .values("service__code", "service__name")
        .annotate(count=Count("id"), total=Sum("amount_ore"))
        .order_by("service__code")
    )
    page = Paginator(selected.select_related("unit", "payer").order_by("id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )

    return render(
        request,
        "invoices/basis_list.html",
        {
            "page": page,
            "periods": periods,
            "period": period,
            "units": scoped(Unit.objects.all(), access),
            "services": access.municipality.services.all(),
            "statuses": BasisStatus.choices,
            "filters": {"unit": unit_code, "status": status, "service": service_code},
            "totals": totals,
            "by_status": [
                (label, by_status.get(value, {"count": 0, "total": 0}))
                for value, label in BasisStatus.choices
            ],
            "by_unit": by_unit,
            "by_service": by_service,
            "can_bill": access.role in (Role.MERKANTIL, Role.SUPERBRUKER),
        },
    )


@login_required
def basis_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request)
    basis = get_invoice_basis_for_user(access, pk)
    return render(
        request,
        "invoices/basis_detail.html",
        {
            "basis": basis,
            "lines": basis.lines.select_related("service").all(),
            "credit_notes": basis.credit_notes.all(),
            "show_full_id": access.role in (Role.MERKANTIL, Role.SUPERBRUKER),
        },
    )
