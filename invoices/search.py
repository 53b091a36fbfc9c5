"""Finding a person or a basis across periods: by name, fødselsnummer (exact), organisation number,
source reference, the basis's own reference, and what the channels know (invoice number and KID
from Visma, an Agresso order number).

A search term may be a fødselsnummer, so it never goes into a URL or a log: the search form posts
it, the term is kept in the session under a random token, and the list's URLs carry only the
token (`?sok=…`).
"""

from __future__ import annotations

import re
import secrets

from django.db.models import Q
from django.http import HttpRequest
from django.utils.module_loading import import_string

from .channels import channels
from .models import Municipality

SESSION_KEY = "basis_searches"
KEEP = 10  # searches a session remembers
MAX_TERM = 100
_REFERENCE = re.compile(r"([0-9]{4})-([0-9]{1,12})")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,32}")


def remember(request: HttpRequest, term: str) -> str:
    """Keep `term` in the session; the token the list's URLs carry instead."""
    token = secrets.token_urlsafe(9)
    kept: dict[str, str] = dict(request.session.get(SESSION_KEY, {}))
    kept[token] = term
    request.session[SESSION_KEY] = dict(list(kept.items())[-KEEP:])
    return token


def recall(request: HttpRequest, token: str) -> str:
    """The term behind a token of this session ("" when unknown or expired)."""
    if not _TOKEN.fullmatch(token or ""):
        return ""
    term = request.session.get(SESSION_KEY, {}).get(token, "")
    return term if isinstance(term, str) else ""


def matching(municipality: Municipality, term: str) -> Q:
    """The bases the term finds: a condition for a queryset of the municipality's bases."""
    term = " ".join(term.split())
    if not term:
        return Q(pk__in=[])
    found = _channel_hits(municipality, term)
    if term.isdigit() and len(term) == 11:
        # A fødselsnummer finds exactly its owner, never a number that merely begins alike.
        return found | Q(payer__national_id=term) | Q(recipient__national_id=term)
    if term.isdigit() and len(term) == 9:
        found |= Q(payer__org_number=term) | Q(recipient__org_number=term)
    reference = _REFERENCE.fullmatch(term)
    if reference and reference[1] == municipality.number:
        found |= Q(pk=int(reference[2]))
    return (
        found
        | Q(source_reference__iexact=term)
        | Q(source_reference__icontains=term)
        | Q(payer__name__icontains=term)
        | Q(recipient__name__icontains=term)
    )


def _channel_hits(municipality: Municipality, term: str) -> Q:
    """Bases a channel knows by this term (each channel's `search` hook gives basis ids)."""
    found = Q(pk__in=[])
    for channel in channels():
        if channel.search:
            found |= Q(pk__in=import_string(channel.search)(municipality, term))
    return found
