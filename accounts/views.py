"""The systemadministrator's page of locked-out users, and the unlock button on it."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from invoices.access import ADMIN_ROLES, require_access

from .services import account_unlock, locked_accounts


@login_required
def locked(request: HttpRequest) -> HttpResponse:
    access = require_access(request, ADMIN_ROLES)
    return render(
        request,
        "accounts/locked.html",
        {
            "accounts": locked_accounts(access.municipality),
            "failures": settings.AXES_FAILURE_LIMIT,
            "minutes": settings.LOGIN_LOCKOUT_MINUTES,
        },
    )


@login_required
@require_POST
def unlock(request: HttpRequest, pk: int) -> HttpResponse:
    access = require_access(request, ADMIN_ROLES)
    # Only the administrator's own municipality's users: anyone else is a 404, as if not there.
    user = (
        get_user_model()
        .objects.filter(pk=pk, memberships__municipality=access.municipality)
        .first()
    )
    if user is None:
        raise Http404
    if account_unlock(user, access.municipality, request.user):
        messages.success(
            request, _("%(user)s kan logge inn igjen.") % {"user": user.get_username()}
        )
    else:
        messages.info(request, _("%(user)s var ikke sperret.") % {"user": user.get_username()})
    return redirect("accounts:locked")
