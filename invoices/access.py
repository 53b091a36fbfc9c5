"""Access control: the few helpers every view, download and API call goes through.

A user acts in one municipality at a time (the *active* one, kept in the session). Objects are only
ever fetched through a queryset filtered to that municipality, so another tenant's object is a 404,
never a 403 that would confirm it exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest

from .models import InvoiceBasis, Membership, Municipality, Role

SESSION_KEY = "active_municipality_id"

VIEW_ROLES = frozenset(Role)
BILLING_ROLES = frozenset({Role.MERKANTIL, Role.SUPERBRUKER})
TEST_TRANSFER_ROLES = frozenset({Role.SUPERBRUKER})
ADMIN_ROLES = frozenset({Role.SYSTEMADMINISTRATOR})
# Who may see a person's full national id: on the basis page and in downloads. Everyone else
# sees the mask (`158990*****`).
FULL_ID_ROLES = frozenset({Role.MERKANTIL, Role.SUPERBRUKER})

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Access:
    """The user's standing in the active municipality."""

    municipality: Municipality
    role: Role

    def can(self, roles: Iterable[Role]) -> bool:
        return self.role in set(roles)

    @property
    def sees_full_national_ids(self) -> bool:
        return self.role in FULL_ID_ROLES


def memberships_for_user(user: AbstractBaseUser | AnonymousUser) -> models.QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user_id=user.pk).select_related("municipality")


def get_access(request: HttpRequest) -> Access | None:
    """The active municipality and role, or None if the user belongs nowhere. Worked out once per
    request: the view and the page header both ask."""
    if hasattr(request, "_tenant_access"):
        return request._tenant_access  # type: ignore[no-any-return]
    access = _resolve_access(request)
    request._tenant_access = access  # type: ignore[attr-defined]
    return access


def _resolve_access(request: HttpRequest) -> Access | None:
    memberships = list(memberships_for_user(request.user))
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    chosen = next((m for m in memberships if m.municipality_id == wanted), memberships[0])
    return Access(municipality=chosen.municipality, role=Role(chosen.role))


def role_of(
    user: AbstractBaseUser | AnonymousUser | None, municipality: Municipality
) -> Role | None:
    """The user's role in a municipality, for services and commands that act without a request."""
    if user is None or not user.is_authenticated:
        return None
    role = (
        Membership.objects.filter(user_id=user.pk, municipality=municipality)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def set_active_municipality(request: HttpRequest, municipality_id: int) -> None:
    if not memberships_for_user(request.user).filter(municipality_id=municipality_id).exists():
        raise Http404
    request.session[SESSION_KEY] = municipality_id
    if hasattr(request, "_tenant_access"):
        del request._tenant_access


class RoleRequired(PermissionDenied):
    """A 403 that carries the roles the page needs, so the error page can name them."""

    def __init__(self, roles: Iterable[Role]) -> None:
        super().__init__()
        self.roles = tuple(role for role in Role if role in set(roles))


def require_access(request: HttpRequest, roles: Iterable[Role] = VIEW_ROLES) -> Access:
    """The user's access, or 403 if they lack every one of `roles` in the active municipality."""
    access = get_access(request)
    if access is None or not access.can(roles):
        raise RoleRequired(roles)
    return access


def scoped(queryset: models.QuerySet[M], access: Access) -> models.QuerySet[M]:
    """Filter any tenant-owned queryset to the active municipality."""
    return queryset.filter(municipality=access.municipality)


def get_for_access(queryset: models.QuerySet[M], access: Access, **lookup: object) -> M:
    """Fetch one tenant-owned object, or 404 if it is missing or belongs to another tenant."""
    try:
        return scoped(queryset, access).get(**lookup)
    except ObjectDoesNotExist as exc:
        raise Http404 from exc


def get_invoice_basis_for_user(access: Access, pk: int) -> InvoiceBasis:
    return get_for_access(
        InvoiceBasis.objects.select_related(
            "municipality", "unit", "payer", "recipient", "approved_by"
        ),
        access,
        pk=pk,
    )
