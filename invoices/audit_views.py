"""*Logg*: the active municipality's audit trail for the systemadministrator, newest first, in
words, filtered by user, action, dates and object.

Only the active municipality's events: events of no municipality (a failed login for a username
nobody has) are the operators', never shown here. Every filter is a query parameter parsed by
`core.params`; none takes a person, so no national id ever lands in an address.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from core import params
from core.paging import Paginator

from .access import ADMIN_ROLES, Access, require_access, scoped
from .audit_words import ObjectKind, Vocabulary, actor_words, vocabulary
from .models import AuditedBasis, AuditEvent, InvoiceBasis, Membership

PAGE_SIZE = 50
# The user filter's value for what no user did (the intake through an API key, the workers).
SYSTEM = 0
BASIS = InvoiceBasis._meta.label


@dataclass(frozen=True)
class Row:
    event: AuditEvent
    who: str
    label: str
    known: bool
    details: list[str]
    object_label: str
    object_name: str
    object_url: str


@login_required
@params.answers_bad_parameters
def audit_log(request: HttpRequest) -> HttpResponse:
    access = require_access(request, ADMIN_ROLES)
    words = vocabulary()
    filters = {
        "bruker": params.integer(request.GET, "bruker", minimum=0),
        "handling": params.choice(request.GET, "handling", words.actions),
        "fra": params.date(request.GET, "fra"),
        "til": params.date(request.GET, "til"),
        "objekt": params.choice(request.GET, "objekt", words.objects),
        "objekt_id": params.integer(request.GET, "objekt_id"),
        "referanse": params.text(request.GET, "referanse", max_length=64),
    }
    events, basis, not_found = _selected(access, filters)
    page = Paginator(events.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        params.page(request.GET)
    )
    query = {k: str(v) for k, v in filters.items() if v is not None and v != ""}
    return render(
        request,
        "invoices/audit/log.html",
        {
            "page": page,
            "rows": _rows(list(page.object_list), words, access),
            "filters": filters,
            "filter_query": urlencode(query),
            "members": Membership.objects.filter(municipality=access.municipality)
            .select_related("user")
            .order_by("user__username"),
            "actions": sorted(
                ((code, str(action.label)) for code, action in words.actions.items()),
                key=lambda item: item[1],
            ),
            "objects": sorted(
                ((code, str(kind.label)) for code, kind in words.objects.items()),
                key=lambda item: item[1],
            ),
            "system": SYSTEM,
            "basis": basis,
            "not_found": not_found,
        },
    )


def _selected(
    access: Access, filters: dict[str, Any]
) -> tuple[QuerySet[AuditEvent], InvoiceBasis | None, bool]:
    events = scoped(AuditEvent.objects.all(), access)
    if filters["bruker"] == SYSTEM:
        events = events.filter(actor__isnull=True)
    elif filters["bruker"] is not None:
        events = events.filter(actor_id=filters["bruker"])
    if filters["handling"]:
        events = events.filter(action=filters["handling"])
    if filters["fra"]:
        events = events.filter(created_at__gte=_start_of(filters["fra"]))
    if filters["til"] and filters["til"] < datetime.date.max:
        events = events.filter(created_at__lt=_start_of(filters["til"] + datetime.timedelta(1)))
    basis = None
    if filters["referanse"]:
        basis = _basis_by_reference(access, filters["referanse"])
        if basis is None:
            return events.none(), None, True
        events = events.filter(_about_basis(basis.pk))
    kind, pk = filters["objekt"], filters["objekt_id"]
    if kind == BASIS and pk is not None:
        events = events.filter(_about_basis(pk))
    elif kind and pk is not None:
        events = events.filter(object_type=kind, object_id=str(pk))
    elif kind:
        events = events.filter(object_type=kind)
    elif pk is not None:
        events = events.filter(object_id=str(pk))
    return events, basis, False


def _start_of(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the product's time zone (Europe/Oslo)."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())


def _about_basis(pk: int) -> Q:
    """Events about the basis alone, and those about many bases that name it."""
    return Q(object_type=BASIS, object_id=str(pk)) | Q(
        pk__in=AuditedBasis.objects.filter(basis_id=pk).values("event_id")
    )


def _basis_by_reference(access: Access, value: str) -> InvoiceBasis | None:
    """A basis of the municipality by its source reference, or by the reference the accounting
    system knows it by (`9999-000000123`)."""
    bases = scoped(InvoiceBasis.objects.all(), access)
    found = bases.filter(source_reference=value).first()
    prefix = f"{access.municipality.number}-"
    if found is None and value.startswith(prefix):
        digits = value[len(prefix) :]
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:
            found = bases.filter(pk=int(digits)).first()
    return found


def _rows(events: list[AuditEvent], words: Vocabulary, access: Access) -> list[Row]:
    names = _object_names(events, words, access)
    rows = []
    for event in events:
        action = words.actions.get(event.action)
        kind = words.objects.get(event.object_type)
        name, url = names.get((event.object_type, event.object_id), ("", ""))
        if kind is not None and not kind.by_pk and access.can(kind.roles):
            url = _url(kind, None)
        rows.append(
            Row(
                event=event,
                who=actor_words(event),
                label=str(action.label) if action else event.action,
                known=action is not None,
                details=_details(action, event),
                object_label=str(kind.label) if kind else event.object_type,
                object_name=name or event.object_id,
                object_url=url,
            )
        )
    return rows


def _details(action: Any, event: AuditEvent) -> list[str]:
    if action is None:
        return []
    try:
        return [str(d) for d in action.describe(event)]
    except (TypeError, ValueError, KeyError, AttributeError):
        # An event written before its words were: shown without details rather than not at all.
        return []


def _object_names(
    events: list[AuditEvent], words: Vocabulary, access: Access
) -> dict[tuple[str, str], tuple[str, str]]:
    """(object_type, object_id) → (name, url) for the page's objects that still exist in the
    municipality and whose page the user may open: one query per kind of object on the page."""
    wanted: dict[str, set[int]] = {}
    for event in events:
        kind = words.objects.get(event.object_type)
        if kind is not None and kind.by_pk and event.object_id.isdigit():
            wanted.setdefault(event.object_type, set()).add(int(event.object_id))
    out = {}
    for object_type, ids in wanted.items():
        kind = words.objects[object_type]
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            continue
        if "municipality" not in {f.name for f in model._meta.concrete_fields}:
            continue
        rows = model._default_manager.filter(municipality=access.municipality, pk__in=ids)
        for obj in rows.select_related("municipality"):
            name = getattr(obj, "source_reference", None) or str(obj)
            url = _url(kind, obj.pk) if access.can(kind.roles) else ""
            out[(object_type, str(obj.pk))] = (name, url)
    return out


def _url(kind: ObjectKind, pk: int | None) -> str:
    if not kind.url_name:
        return ""
    try:
        return reverse(kind.url_name, args=[pk] if pk is not None else [])
    except NoReverseMatch:
        return ""
