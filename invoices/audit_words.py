"""The audit trail in words: a Bokmål label for every action the product records, the details of
each event as sentences, and the objects an event may link to.

The domain's own actions (and the logins', which `accounts` records through the domain's
`audit`) are here; each channel names its own in a `Vocabulary` its `Channel.audit_vocabulary`
points at, so the domain knows no channel's actions or pages. An action nobody named shows as
its raw code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .access import ADMIN_ROLES, VIEW_ROLES
from .channels import channels
from .models import AnomalyKind, AuditEvent, BasisKind, Role
from .templatetags.money import kr

Describe = Callable[[AuditEvent], list[str]]


def _nothing(event: AuditEvent) -> list[str]:
    return []


@dataclass(frozen=True)
class Action:
    label: str | Promise
    describe: Describe = _nothing


@dataclass(frozen=True)
class ObjectKind:
    """An object an event may name (`object_type`): its name, and the page that shows it, for
    the roles that may open that page. `by_pk`: the page takes the object's id."""

    label: str | Promise
    url_name: str = ""
    roles: frozenset[Role] = field(default_factory=lambda: frozenset(VIEW_ROLES))
    by_pk: bool = True


@dataclass(frozen=True)
class Vocabulary:
    actions: Mapping[str, Action] = field(default_factory=dict)
    objects: Mapping[str, ObjectKind] = field(default_factory=dict)


def vocabulary() -> Vocabulary:
    """The domain's words and every configured channel's, merged."""
    actions = dict(DOMAIN.actions)
    objects = dict(DOMAIN.objects)
    for channel in channels():
        if channel.audit_vocabulary:
            theirs: Vocabulary = import_string(channel.audit_vocabulary)
            actions.update(theirs.actions)
            objects.update(theirs.objects)
    return Vocabulary(actions, objects)


# --- helpers for describing events -----------------------------------------------------------


def data_of(event: AuditEvent) -> dict[str, Any]:
    return event.data if isinstance(event.data, dict) else {}


def source_words(source: str) -> str:
    """Where an intake came from: `api:<key name>`, `file:<file name>`, `demo`."""
    kind, _sep, name = source.partition(":")
    if kind == "api":
        return _("API-nøkkelen «%(name)s»") % {"name": name}
    if kind == "file":
        return _("filen «%(name)s»") % {"name": name}
    if source == "demo":
        return _("demodata")
    return source


def actor_words(event: AuditEvent) -> str:
    """Who: the user's name, or for the system the key or file an intake came through."""
    source = str(data_of(event).get("source") or "")
    if event.actor_id is None and event.actor_label in ("", "system"):
        return source_words(source) if source else _("systemet")
    return event.actor_label


def basis_kind_words(kind: object) -> str:
    try:
        return str(BasisKind(str(kind)).label)
    except ValueError:
        return str(kind)


def value_words(value: object, model_field: Any = None) -> str:
    """A settings value for people: Ja/Nei, a choice's label, a list without its blanks."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return _("Ja") if value else _("Nei")
    if isinstance(value, list):
        shown = [str(v) for v in value if v not in ("", None)]
        return ", ".join(shown) if shown else "–"
    choices = dict(getattr(model_field, "flatchoices", None) or [])
    if value in choices:
        return f"{choices[value]} ({value})"
    return str(value)


def _field_of(event: AuditEvent, name: str) -> Any:
    try:
        model = apps.get_model(event.object_type) if event.object_type else None
    except (LookupError, ValueError):
        return None
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def field_words(event: AuditEvent, name: str) -> str:
    """A settings field's name as its model calls it, else its raw name."""
    model_field = _field_of(event, name)
    label = getattr(model_field, "verbose_name", None)
    return str(label)[:1].upper() + str(label)[1:] if label else name


def settings_changes(event: AuditEvent, changes: Mapping[str, Any] | None = None) -> list[str]:
    """«Felt: før → etter» per changed setting, from `changes` = {field: {before, after}}."""
    changes = changes if changes is not None else data_of(event).get("changes")
    if not isinstance(changes, Mapping):
        return []
    out = []
    for name, change in changes.items():
        if not isinstance(change, Mapping):
            continue
        model_field = _field_of(event, name)
        out.append(
            _("%(field)s: %(before)s → %(after)s")
            % {
                "field": field_words(event, name),
                "before": value_words(change.get("before"), model_field),
                "after": value_words(change.get("after"), model_field),
            }
        )
    return out


def count_words(singular: str, plural: str, n: object) -> str:
    number = n if isinstance(n, int) else 0
    return ngettext(singular, plural, number) % {"n": number}


def correction_words(data: dict[str, Any]) -> list[str]:
    """«sum 860,00 kr → 1 060,00 kr», «linjer 1 → 2» …: what a correction changed."""
    before = data.get("before")
    after = data.get("after")
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    changed = [c for c in data.get("changed") or [] if isinstance(c, str)]
    words = []
    for name in changed:
        old, new = before.get(name), after.get(name)
        if name == "total_ore":
            words.append(_("sum %(old)s kr → %(new)s kr") % {"old": kr(old), "new": kr(new)})
        elif name == "line_count":
            words.append(
                ngettext("linjer %(old)s → %(new)s", "linjer %(old)s → %(new)s", new or 0)
                % {"old": old, "new": new}
            )
        elif name == "period":
            words.append(_("periode %(old)s → %(new)s") % {"old": old, "new": new})
        elif name == "unit":
            words.append(_("enhet %(old)s → %(new)s") % {"old": old, "new": new})
        elif name == "kind":
            words.append(
                _("type %(old)s → %(new)s")
                % {"old": basis_kind_words(old), "new": basis_kind_words(new)}
            )
        elif name == "payer":
            words.append(_("ny betaler"))
        elif name == "recipient":
            words.append(_("ny tjenestemottaker"))
    if not words:
        words.append(_("tekster, datoer, kontering eller adresse endret; sum og linjer som før"))
    return [", ".join(words)]


# --- the domain's actions ----------------------------------------------------------------------


def _intake(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = []
    if data.get("source"):
        out.append(_("Kilde: %(source)s.") % {"source": source_words(str(data["source"]))})
    out.append(
        _("%(created)s nye, %(updated)s rettet, %(unchanged)s uendret.")
        % {
            "created": data.get("created", 0),
            "updated": data.get("updated", 0),
            "unchanged": data.get("unchanged", 0),
        }
    )
    return out


def _corrected(event: AuditEvent) -> list[str]:
    data = data_of(event)
    return [
        _("Grunnlag %(ref)s: %(what)s.")
        % {"ref": data.get("source_reference", ""), "what": "; ".join(correction_words(data))}
    ]


def _approve(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("%(n)s grunnlag godkjent, til sammen %(sum)s kr.")
        % {"n": data.get("approved", 0), "sum": kr(data.get("total_ore"))}
    ]
    if data.get("invalid"):
        out.append(_("%(n)s grunnlag hadde feil og ble ikke godkjent.") % {"n": data["invalid"]})
    return out


def _unapprove(event: AuditEvent) -> list[str]:
    return [_("Godkjenningen trukket for %(n)s grunnlag.") % {"n": data_of(event).get("count", 0)}]


def _delete(event: AuditEvent) -> list[str]:
    data = data_of(event)
    return [
        _("Grunnlag %(ref)s for %(period)s på %(sum)s kr.")
        % {
            "ref": data.get("source_reference", ""),
            "period": data.get("period", ""),
            "sum": kr(data.get("total_ore")),
        }
    ]


def _credit(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("Kreditnota %(ref)s for %(original)s på %(sum)s kr.")
        % {
            "ref": data.get("source_reference", ""),
            "original": data.get("credits_reference") or data.get("credits", ""),
            "sum": kr(data.get("total_ore")),
        }
    ]
    for line in data.get("lines") or []:
        if isinstance(line, dict):
            out.append(
                _("Linje %(no)s: %(qty)s (%(sum)s kr).")
                % {
                    "no": line.get("line_no"),
                    "qty": str(line.get("quantity", "")).replace(".", ","),
                    "sum": kr(line.get("amount_ore")),
                }
            )
    if data.get("reason"):
        out.append(_("Begrunnelse: %(reason)s") % {"reason": data["reason"]})
    return out


def _token(event: AuditEvent) -> list[str]:
    return [_("Nøkkel «%(name)s».") % {"name": data_of(event).get("name", "")}]


def _who_from_where(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [_("Brukernavn «%(name)s».") % {"name": data.get("username", "")}]
    if data.get("ip"):
        out.append(_("Fra adressen %(ip)s.") % {"ip": data["ip"]})
    return out


def _login_failed(event: AuditEvent) -> list[str]:
    reason = data_of(event).get("reason")
    why = {
        "credentials": _("Feil brukernavn eller passord."),
        "locked": _("Brukernavnet var sperret."),
    }.get(str(reason), str(reason or ""))
    return [*_who_from_where(event), *([why] if why else [])]


def _locked(event: AuditEvent) -> list[str]:
    data = data_of(event)
    return [
        *_who_from_where(event),
        _("Sperret i %(minutes)s minutter etter %(failures)s mislykkede forsøk.")
        % {"minutes": data.get("minutes", "?"), "failures": data.get("failures", "?")},
    ]


def _unlocked(event: AuditEvent) -> list[str]:
    data = data_of(event)
    return [
        _("Brukeren «%(name)s» er låst opp; %(n)s mislykkede forsøk er glemt.")
        % {"name": data.get("username", ""), "n": data.get("attempts", 0)}
    ]


def _rotated(event: AuditEvent) -> list[str]:
    return [
        _("Feltet «%(field)s» er kryptert på nytt med den nyeste nøkkelen.")
        % {"field": data_of(event).get("field", "")}
    ]


def _anomaly(event: AuditEvent) -> list[str]:
    data = data_of(event)
    kind = str(data.get("kind", ""))
    label = AnomalyKind(kind).label if kind in AnomalyKind.values else kind
    out = [_("%(kind)s i %(period)s.") % {"kind": label, "period": data.get("period", "")}]
    note = data.get("note") or data.get("note_was")
    if note:
        out.append(_("Merknad: %(note)s") % {"note": note})
    return out


def download_words(event: AuditEvent) -> list[str]:
    """A download of personal data: the file, how many rows, the selection, full ids or masked."""
    data = data_of(event)
    out = [
        _("Filen %(file)s, %(rows)s rader.")
        % {"file": data.get("file_name", ""), "rows": data.get("rows", 0)}
    ]
    chosen = [
        str(data[key]) for key in ("period", "unit", "service", "status", "state") if data.get(key)
    ]
    if chosen:
        out.append(_("Utvalg: %(selection)s.") % {"selection": ", ".join(chosen)})
    if data.get("full_national_ids"):
        out.append(_("Med hele fødselsnumre."))
    return out


DOMAIN = Vocabulary(
    actions={
        "invoice_basis.intake": Action(gettext_lazy("Fakturagrunnlag mottatt"), _intake),
        "invoice_basis.corrected": Action(gettext_lazy("Fakturagrunnlag rettet"), _corrected),
        "invoice_basis.approve": Action(gettext_lazy("Fakturagrunnlag godkjent"), _approve),
        "invoice_basis.unapprove": Action(gettext_lazy("Godkjenning trukket tilbake"), _unapprove),
        "invoice_basis.delete": Action(gettext_lazy("Fakturagrunnlag slettet"), _delete),
        "invoice_basis.credit": Action(gettext_lazy("Kreditnota laget"), _credit),
        "api_token.create": Action(gettext_lazy("API-nøkkel laget"), _token),
        "api_token.revoke": Action(gettext_lazy("API-nøkkel trukket tilbake"), _token),
        "accounting_settings.changed": Action(
            gettext_lazy("Regnskapsoppsettet endret"), settings_changes
        ),
        "auth.login": Action(gettext_lazy("Innlogging"), _who_from_where),
        "auth.logout": Action(gettext_lazy("Utlogging"), _who_from_where),
        "auth.login_failed": Action(gettext_lazy("Mislykket innlogging"), _login_failed),
        "auth.locked": Action(gettext_lazy("Brukernavn sperret"), _locked),
        "auth.lock_expired": Action(gettext_lazy("Sperring utløpt"), _who_from_where),
        "auth.unlocked": Action(gettext_lazy("Bruker låst opp"), _unlocked),
        "secrets.rotated": Action(gettext_lazy("Hemmelighet kryptert på nytt"), _rotated),
        "anomaly.acknowledge": Action(gettext_lazy("Avviksvarsel kvittert ut"), _anomaly),
        "anomaly.unacknowledge": Action(
            gettext_lazy("Kvittering av avviksvarsel angret"), _anomaly
        ),
        "anomaly_settings.changed": Action(
            gettext_lazy("Terskler for avviksvarsler endret"), settings_changes
        ),
        "download.month": Action(gettext_lazy("Månedens grunnlag lastet ned"), download_words),
        "download.validation_report": Action(
            gettext_lazy("Kontrollrapporten lastet ned"), download_words
        ),
    },
    objects={
        "invoices.InvoiceBasis": ObjectKind(gettext_lazy("Fakturagrunnlag"), "invoices:detail"),
        "invoices.ApiToken": ObjectKind(
            gettext_lazy("API-nøkkel"), "api_tokens:list", frozenset(ADMIN_ROLES), by_pk=False
        ),
        "invoices.AccountingSettings": ObjectKind(gettext_lazy("Regnskapsoppsett")),
        "invoices.Anomaly": ObjectKind(
            gettext_lazy("Avviksvarsel"), "invoices:anomalies", by_pk=False
        ),
        "invoices.AnomalySettings": ObjectKind(
            gettext_lazy("Terskler for avvik"),
            "anomaly_settings",
            frozenset(ADMIN_ROLES),
            by_pk=False,
        ),
    },
)
