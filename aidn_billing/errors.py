"""Error pages in the product's own look and the user's language, with the menu for a signed-in
user (templates/400.html … 500.html extend base.html).

Django's defaults would do most of this, but a 403 should say which role the page needs (carried by
`invoices.access.RoleRequired`), the CSRF failure page should be ours, and a 500 must still render
when the failure that caused it (a database gone) also breaks the header's lookups.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.log import log_response
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)


def _render(request: HttpRequest, template: str, status: int, **context: object) -> HttpResponse:
    return HttpResponse(loader.render_to_string(template, context, request), status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _render(request, "400.html", 400)


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    roles = [role.label for role in getattr(exception, "roles", ())]
    if len(roles) == 1:
        needed = _("Denne siden krever rollen %(role)s.") % {"role": roles[0]}
    elif roles:
        needed = _("Denne siden krever en av rollene %(roles)s.") % {
            "roles": get_text_list([str(r) for r in roles], _("eller"))
        }
    else:
        needed = ""
    response = _render(request, "403.html", 403, needed=needed)
    # Django would log the 403 with the exception's traceback; a refused page is an everyday
    # event, and one line says all there is to say. A logged response is not logged again.
    log_response(
        "Forbidden (Permission denied): %s", request.path, response=response, request=request
    )
    return response


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _render(request, "404.html", 404)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return _render(request, "500.html", 500)
    except Exception:
        # Whatever broke the request may break the header too (the user's memberships come from
        # the database): the same page without the request, so without user or menu.
        logger.exception("The 500 page could not be rendered with the request")
        return HttpResponse(loader.render_to_string("500.html", {}), status=500)


@requires_csrf_token
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without a valid CSRF token: most often a page left open past the session."""
    return _render(request, "403_csrf.html", 403)
