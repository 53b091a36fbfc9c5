"""A basis's story, oldest first: received, corrected, approved, withdrawn, what each channel did
with it (exported in which file, sent in which transfer and what Visma answered), and its credit
notes.

The domain's part comes from the audit trail (the events linked to the basis, one query) and the
basis itself; each channel adds its own facts through its `Channel.basis_events` hook, a function
`basis_events(basis) -> list[TimelineEvent]` with a constant number of queries, so the domain never
imports a channel and the page costs the same whatever the story's length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.urls import Resolver404, resolve, reverse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .audit_words import actor_words, correction_words, vocabulary
from .channels import channels
from .models import AuditEvent, BasisStatus, InvoiceBasis, Role
from .templatetags.money import kr

# Within one moment: what happened to the basis itself first, then the channels, then credit.
RECEIVED, CHANGED, CHANNEL, CREDITED = 0, 1, 2, 3


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened to a basis, in words. `kind` chooses the marker on the page
    (received, corrected, approved, withdrawn, exported, sent, refused, failed, invoiced,
    credited, waiting); `code` is the raw code for support, kept in the title's `title`
    attribute: in brackets after the user's name it was a bare English code ("(done)")."""

    at: datetime
    title: str
    kind: str = "info"
    who: str = ""
    details: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    code: str = ""
    rank: int = CHANNEL


def basis_timeline(
    basis: InvoiceBasis, notes: Iterable[InvoiceBasis] = (), role: Role | None = None
) -> list[TimelineEvent]:
    """Everything known of `basis`, oldest first. `notes` are its credit notes (the basis page
    has them already). With `role`, only the links that role may open."""
    events = list(
        AuditEvent.objects.filter(basis_links__basis_id=basis.pk).order_by("created_at", "id")
    )
    story: list[TimelineEvent] = []
    described_notes: set[int] = set()
    for event in events:
        entry = _describe(event, basis)
        if entry is not None:
            story.append(entry)
        if event.action == "invoice_basis.credit" and event.object_id != str(basis.pk):
            described_notes.add(int(event.object_id))
    story += _what_the_basis_says(basis, events, notes, described_notes)
    for channel in channels():
        if channel.basis_events:
            story += import_string(channel.basis_events)(basis)
    story.sort(key=lambda e: (e.at, e.rank))
    return story if role is None else _openable(story, role)


def _openable(story: list[TimelineEvent], role: Role) -> list[TimelineEvent]:
    """Without the links to pages `role` may not open (a systemadministrator sees the basis but
    not the export), by the roles the audit vocabulary gives each object's page."""
    roles = {kind.url_name: kind.roles for kind in vocabulary().objects.values() if kind.url_name}

    def may_open(url: str) -> bool:
        try:
            name = resolve(urlsplit(url).path).view_name
        except Resolver404:
            return True
        return role in roles.get(name, (role,))

    return [replace(e, links=tuple(link for link in e.links if may_open(link[0]))) for e in story]


def _describe(event: AuditEvent, basis: InvoiceBasis) -> TimelineEvent | None:
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
    who = actor_words(event)
    at = event.created_at
    if event.action == "invoice_basis.intake":
        return TimelineEvent(at, _("Mottatt"), "received", who, rank=RECEIVED)
    if event.action == "invoice_basis.corrected":
        return TimelineEvent(
            at,
            _("Rettet"),
            "corrected",
            who,
            tuple(correction_words(data)),
            rank=CHANGED,
        )
    if event.action == "invoice_basis.approve":
        return TimelineEvent(at, _("Godkjent"), "approved", who, rank=CHANGED)
    if event.action == "invoice_basis.unapprove":
        return TimelineEvent(at, _("Godkjenning trukket tilbake"), "withdrawn", who, rank=CHANGED)
    if event.action == "invoice_basis.credit":
        return _credit(event, basis, data, who)
    return None


def _credit(
    event: AuditEvent, basis: InvoiceBasis, data: dict[str, Any], who: str
) -> TimelineEvent:
    reason = str(data.get("reason") or "")
    total = kr(data.get("total_ore"))
    if event.object_id == str(basis.pk):
        # This basis is the credit note.
        details = [_("Sum %(sum)s kr.") % {"sum": total}]
        if reason:
            details.append(_("Begrunnelse: %(reason)s") % {"reason": reason})
        links = []
        if basis.credits_id:
            original = str(data.get("credits_reference") or basis.credits_id)
            links.append((reverse("invoices:detail", args=[basis.credits_id]), original))
        return TimelineEvent(
            event.created_at,
            _("Laget som kreditnota"),
            "received",
            who,
            tuple(details),
            tuple(links),
            rank=RECEIVED,
        )
    details = [_("Kreditnota på %(sum)s kr.") % {"sum": total}]
    for line in data.get("lines") or []:
        if isinstance(line, dict):
            details.append(
                _("Linje %(no)s: %(qty)s (%(sum)s kr)")
                % {
                    "no": line.get("line_no"),
                    "qty": str(line.get("quantity", "")).replace(".", ","),
                    "sum": kr(line.get("amount_ore")),
                }
            )
    if reason:
        details.append(_("Begrunnelse: %(reason)s") % {"reason": reason})
    note = (reverse("invoices:detail", args=[event.object_id]), str(data.get("source_reference")))
    return TimelineEvent(
        event.created_at,
        _("Kreditert"),
        "credited",
        who,
        tuple(details),
        (note,),
        rank=CREDITED,
    )


def _what_the_basis_says(
    basis: InvoiceBasis,
    events: list[AuditEvent],
    notes: Iterable[InvoiceBasis],
    described_notes: set[int],
) -> list[TimelineEvent]:
    """What the basis's own columns tell where the trail has no event: a basis received or
    approved before the trail named bases, and credit notes from the care system."""
    actions = {e.action for e in events}
    made = any(
        e.action == "invoice_basis.intake"
        or (e.action == "invoice_basis.credit" and e.object_id == str(basis.pk))
        for e in events
    )
    out = []
    if not made:
        out.append(TimelineEvent(basis.received_at, _("Mottatt"), "received", rank=RECEIVED))
    if basis.approved_at is not None and "invoice_basis.approve" not in actions:
        who = basis.approved_by.get_username() if basis.approved_by else ""
        out.append(TimelineEvent(basis.approved_at, _("Godkjent"), "approved", who, rank=CHANGED))
    for note in notes:
        if note.pk in described_notes:
            continue
        out.append(
            TimelineEvent(
                note.received_at,
                _("Kreditnota mottatt fra fagsystemet"),
                "credited",
                "",
                (
                    _("Kreditnota på %(sum)s kr (%(status)s).")
                    % {"sum": kr(note.total_ore), "status": BasisStatus(note.status).label},
                ),
                ((reverse("invoices:detail", args=[note.pk]), note.source_reference),),
                rank=CREDITED,
            )
        )
    return out
