"""Pages of the Visma integration. Every object is fetched through invoices.access (another
municipality's object is a 404); every write goes through integrations.services."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import params
from core.paging import Paginator
from invoices.access import (
    ADMIN_ROLES,
    BILLING_ROLES,
    TEST_TRANSFER_ROLES,
    VIEW_ROLES,
    Access,
    get_for_access,
    get_invoice_basis_for_user,
    require_access,
    scoped,
)
from invoices.models import BasisStatus, InvoiceBasis, TransferRoute
from invoices.selection import MonthSelection
from invoices.services import accounting_settings_get

from . import selectors, services
from .forms import TestTransferForm, VismaSettingsForm
from .models import AttemptState, BasisVismaStatus, Transfer, TransferAttempt

ATTEMPTS_PER_PAGE = 100
TEST_CANDIDATES = 200


# --- settings (systemadministrator) --------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    access = require_access(request, ADMIN_ROLES)
    current = services.visma_settings_for(access.municipality)
    if request.method == "POST":
        form = VismaSettingsForm(request.POST, instance=current)
        if form.is_valid():
            try:
                services.visma_settings_update(
                    access.municipality, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Innstillingene er lagret."))
                return redirect("integrations:settings")
    else:
        form = VismaSettingsForm(instance=current)
    last_stopped = (
        scoped(Transfer.objects.all(), access)
        .filter(status="stopped", is_test=False)
        .order_by("-created_at")
        .first()
    )
    return render(
        request,
        "integrations/settings.html",
        {"form": form, "current": current, "last_stopped": last_stopped},
    )


@login_required
@require_POST
def settings_test(request: HttpRequest) -> HttpResponse:
    access = require_access(request, ADMIN_ROLES)
    outcome = services.visma_settings_test(access.municipality, actor=request.user)
    if request.headers.get("HX-Request"):
        return render(request, "integrations/_ping_result.html", {"outcome": outcome})
    (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("integrations:settings")


# --- sending (merkantil, superbruker) ------------------------------------------------------------


def _period(request: HttpRequest) -> str:
    """The period from the address or, when posted, from the form."""
    return params.period(request.GET) or params.period(request.POST)


@login_required
@require_GET
@params.answers_bad_parameters
def period_actions(request: HttpRequest) -> HttpResponse:
    """The *Send til Visma* button on the invoice list (loaded by htmx, so the list itself pays
    no queries for it), for the list's selection. Empty unless the user may send and the
    integration is enabled."""
    access = require_access(request)
    selection = MonthSelection.from_data(access.municipality, request.GET)
    settings_obj = services.visma_settings_for(access.municipality)
    context: dict[str, Any] = {
        "selection": selection,
        "period": selection.period,
        "show": bool(
            selection.valid and access.can(BILLING_ROLES) and settings_obj and settings_obj.enabled
        ),
        "can_test": access.can(TEST_TRANSFER_ROLES),
        "primary": _is_primary(access),
    }
    if context["show"]:
        count, total = selection.totals(access.municipality, BasisStatus.APPROVED)
        context["summary"] = {"count": count, "total_ore": total}
    return render(request, "integrations/_period_actions_content.html", context)


def _is_primary(access: Access) -> bool:
    """Whether the municipality's route is the web service (else it uses import files)."""
    route = accounting_settings_get(access.municipality).transfer_route
    return route == TransferRoute.VISMA_API


@login_required
@require_http_methods(["GET", "POST"])
@params.answers_bad_parameters
def send_confirm(request: HttpRequest) -> HttpResponse:
    """GET: the confirmation (the selection, how many approved bases, their total). POST: send
    exactly that selection."""
    access = require_access(request, BILLING_ROLES)
    data = request.POST if request.method == "POST" else request.GET
    selection = MonthSelection.from_data(access.municipality, data)
    if request.method == "POST":
        back = (
            reverse("invoices:list") + "?" + (selection.query_string() if selection.valid else "")
        )
        if not selection.valid:
            messages.error(request, _("Velg en periode i listen over fakturagrunnlag først."))
            return redirect(back)
        try:
            transfer = services.transfer_start(
                access.municipality,
                period=selection.period,
                unit=selection.unit,
                service=selection.service,
                actor=request.user,
            )
        except services.TransferError as exc:
            messages.error(request, exc.message)
            return redirect(back)
        messages.success(
            request,
            _("Overføringen er startet: %(n)d grunnlag sendes til Visma.")
            % {"n": transfer.basis_count},
        )
        return redirect("integrations:transfer_detail", pk=transfer.pk)
    settings_obj = services.visma_settings_for(access.municipality)
    summary = None
    if selection.valid:
        count, total = selection.totals(access.municipality, BasisStatus.APPROVED)
        summary = {"count": count, "total_ore": total}
    return render(
        request,
        "integrations/send_confirm.html",
        {
            "selection": selection,
            "period": selection.period,
            "summary": summary,
            "enabled": bool(settings_obj and settings_obj.enabled),
            "primary": _is_primary(access),
        },
    )


def _list_url() -> str:
    return reverse("invoices:list")


@login_required
@require_POST
@params.answers_bad_parameters
def transfer_retry(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    transfer = get_for_access(Transfer.objects.all(), access, pk=pk)
    try:
        retry = services.transfer_retry_failed(
            transfer,
            actor=request.user,
            include_rejected=params.choice(request.POST, "rejected", ["1"]) == "1",
        )
    except services.TransferError as exc:
        messages.error(request, exc.message)
        return redirect("integrations:transfer_detail", pk=transfer.pk)
    messages.success(
        request, _("%(n)d feilede grunnlag sendes på nytt.") % {"n": retry.basis_count}
    )
    return redirect("integrations:transfer_detail", pk=retry.pk)


@login_required
@require_POST
@params.answers_bad_parameters
def status_refresh(request: HttpRequest) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    settings_obj = services.visma_settings_for(access.municipality)
    if not settings_obj or not settings_obj.enabled:
        messages.error(request, _("Integrasjonen til Visma er ikke aktivert."))
    else:
        from .tasks import refresh_status

        municipality_id = access.municipality.pk
        transaction.on_commit(lambda: refresh_status.delay(municipality_id))
        messages.info(
            request,
            _("Status hentes fra Visma i bakgrunnen. Last siden på nytt om litt."),
        )
    return redirect(
        params.local_url(request, request.POST, "next", default=reverse("integrations:transfers"))
    )


# --- test transfers (superbruker) ----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@params.answers_bad_parameters
def test_transfer(request: HttpRequest) -> HttpResponse:
    access = require_access(request, TEST_TRANSFER_ROLES)
    bases = scoped(InvoiceBasis.objects.all(), access).filter(status="approved")
    periods = list(bases.order_by("-period").values_list("period", flat=True).distinct()[:36])
    period = _period(request) or (periods[0] if periods else "")
    candidates = list(
        bases.filter(period=period).select_related("payer").order_by("pk")[:TEST_CANDIDATES]
    )
    choices = [(b.pk, b.source_reference) for b in candidates]
    form = TestTransferForm(request.POST if request.method == "POST" else None, choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            transfer = services.transfer_start(
                access.municipality,
                basis_ids=form.cleaned_data["bases"],
                actor=request.user,
                test=True,
            )
        except services.TransferError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Testoverføringen er startet. Ingenting blir låst."))
            return redirect("integrations:transfer_detail", pk=transfer.pk)
    settings_obj = services.visma_settings_for(access.municipality)
    return render(
        request,
        "integrations/test_transfer.html",
        {
            "form": form,
            "candidates": candidates,
            "period": period,
            "periods": periods,
            "enabled": bool(settings_obj and settings_obj.enabled),
            "max_bases": services.MAX_TEST_BASES,
        },
    )


# --- history and progress (everyone in the municipality) -----------------------------------------


@login_required
@require_GET
@params.answers_bad_parameters
def transfer_list(request: HttpRequest) -> HttpResponse:
    access = require_access(request, VIEW_ROLES)
    transfers = scoped(Transfer.objects.all(), access).select_related("created_by")
    page = Paginator(transfers.order_by("-created_at", "-id"), 50).get_page(
        params.page(request.GET)
    )
    return render(
        request,
        "integrations/transfer_list.html",
        {"page": page, "can_bill": access.can(BILLING_ROLES)},
    )


def _progress_context(transfer: Transfer, counts: dict[str, int]) -> dict[str, object]:
    done = sum(counts.get(s, 0) for s in ("sent", "rejected", "validated", "failed"))
    always = ("pending", "validated" if transfer.is_test else "sent", "failed")
    rows = [
        (state, label, counts.get(state, 0))
        for state, label in AttemptState.choices
        if counts.get(state, 0) or state in always
    ]
    return {
        "transfer": transfer,
        "counts": counts,
        "state_rows": rows,
        "done": done,
        "total": transfer.basis_count,
        "retryable": (
            not transfer.is_test
            and not transfer.is_active
            and transfer.attempts.filter(
                state="failed", retryable=True, basis__status="failed"
            ).exists()
        ),
        "resendable_rejected": (
            not transfer.is_test
            and not transfer.is_active
            and transfer.attempts.filter(state="rejected", basis__status="failed").exists()
        ),
    }


def _rows_context(
    request: HttpRequest, transfer: Transfer, counts: dict[str, int]
) -> dict[str, object]:
    """The attempts the page shows: one state or all, one page of them. `counts` are the
    progress's own (the same moment's), so the rows are not counted a second time: on a running
    20 000-basis transfer every poll would otherwise count them again."""
    state = params.choice(request.GET, "state", AttemptState.values)
    attempts = transfer.attempts.select_related("basis__payer").order_by("id")
    if state:
        attempts = attempts.filter(state=state)
    paginator = Paginator(attempts, ATTEMPTS_PER_PAGE)
    paginator.count = counts.get(state, 0) if state else sum(counts.values())
    page = paginator.get_page(params.page(request.GET))
    query = {"state": state} if state else {}
    if page.number > 1:
        query["page"] = str(page.number)
    return {"page": page, "state": state, "rows_query": urlencode(query)}


@login_required
@require_GET
@params.answers_bad_parameters
def transfer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, VIEW_ROLES)
    transfer = get_for_access(
        Transfer.objects.select_related("created_by", "retry_of"), access, pk=pk
    )
    counts = selectors.transfer_counts(transfer)
    context = _progress_context(transfer, counts)
    context.update(_rows_context(request, transfer, counts))
    context.update({"states": AttemptState.choices, "can_bill": access.can(BILLING_ROLES)})
    return render(request, "integrations/transfer_detail.html", context)


@login_required
@require_GET
@params.answers_bad_parameters
def transfer_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The poll: the progress, and the rows out of band, so both agree when the transfer ends."""
    access = require_access(request, VIEW_ROLES)
    transfer = get_for_access(Transfer.objects.all(), access, pk=pk)
    counts = selectors.transfer_counts(transfer)
    context = _progress_context(transfer, counts)
    context.update(_rows_context(request, transfer, counts))
    context["can_bill"] = access.can(BILLING_ROLES)
    return render(request, "integrations/_progress_poll.html", context)


@login_required
@require_GET
def basis_extra(request: HttpRequest, pk: int) -> HttpResponse:
    """Attempts, grunnlagId, invoice number, KID and due date on the basis page (htmx)."""
    access = require_access(request, VIEW_ROLES)
    basis = get_invoice_basis_for_user(access, pk)
    attempts = (
        TransferAttempt.objects.filter(basis=basis)
        .select_related("transfer")
        .order_by("-created_at", "-id")[:20]
    )
    status = BasisVismaStatus.objects.filter(basis=basis).first()
    return render(
        request,
        "integrations/_basis_visma.html",
        {"basis": basis, "attempts": attempts, "status": status},
    )
