"""*Krediter*: the form that makes a credit note for some or all of an invoice's lines."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from .access import BILLING_ROLES, get_invoice_basis_for_user, require_access
from .credit import CREDITABLE, CreditRefused, balance_for, invoice_basis_credit_lines
from .credit_forms import CreditForm, line_field
from .errors import BasisActionError
from .models import BasisKind


@login_required
def basis_credit(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, BILLING_ROLES)
    basis = get_invoice_basis_for_user(access, pk)
    balance = balance_for(basis)
    if not balance.creditable:
        if basis.kind == BasisKind.INVOICE and basis.status in CREDITABLE:
            messages.info(request, _("Det er ikke noe igjen å kreditere på denne fakturaen."))
        else:
            messages.info(request, _("Bare eksporterte eller sendte fakturaer kan krediteres."))
        return redirect("invoices:detail", pk=basis.pk)
    form = CreditForm(request.POST if request.method == "POST" else None, balance=balance)
    if form.is_valid():
        try:
            credit = invoice_basis_credit_lines(
                basis, form.parts(), reason=form.cleaned_data["reason"], actor=request.user
            )
        except CreditRefused as exc:
            for line_no, problems in exc.problems.items():
                name = line_field(line_no) if line_no is not None else None
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        except BasisActionError as exc:
            # Another clerk took the rest while this form was open.
            messages.error(request, exc.message)
            return redirect("invoices:detail", pk=basis.pk)
        else:
            messages.success(
                request,
                _("Kreditnota %(ref)s er laget. Den må godkjennes og overføres som andre grunnlag.")
                % {"ref": credit.source_reference},
            )
            return redirect("invoices:detail", pk=credit.pk)
    return render(
        request,
        "invoices/credit/form.html",
        {"basis": basis, "balance": balance, "form": form},
    )
