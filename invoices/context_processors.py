from __future__ import annotations

from django.http import HttpRequest

from .access import get_access, memberships_for_user
from .channels import channels


def tenant(request: HttpRequest) -> dict[str, object]:
    """The active municipality and role for the page header and menu, and the channels whose
    links and actions the pages include."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "access": get_access(request),
        "memberships": memberships_for_user(request.user),
        "channels": channels(),
    }
