"""The Visma channel's audit actions in words, and the pages of the objects they name
(`invoices.audit_words`)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invoices.access import ADMIN_ROLES
from invoices.audit_words import (
    Action,
    ObjectKind,
    Vocabulary,
    data_of,
    download_words,
    settings_changes,
    value_words,
)
from invoices.models import AuditEvent
from invoices.templatetags.money import kr

from .models import AttemptState, TransferStatus


def _settings(event: AuditEvent) -> list[str]:
    """Before and after of each changed setting; the password only as «changed»."""
    data = data_of(event)
    before: dict[str, Any] = data.get("before") or {}
    after: dict[str, Any] = data.get("after") or {}
    changes = {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in data.get("changed") or []
        if name != "har_passord"
    }
    out = settings_changes(event, changes)
    if "har_passord" in (data.get("changed") or []):
        out.append(
            _("Passord lagret: %(before)s → %(after)s")
            % {
                "before": value_words(before.get("har_passord")),
                "after": value_words(after.get("har_passord")),
            }
        )
    if data.get("passord"):
        out.append(_("Passordet er endret (det vises aldri)."))
    if data.get("via"):
        out.append(_("Endret fra: %(via)s.") % {"via": data["via"]})
    return out


def _tested(event: AuditEvent) -> list[str]:
    data = data_of(event)
    if data.get("ok"):
        return [_("Tilkoblingen virker.")]
    return [_("Tilkoblingen feilet (%(code)s).") % {"code": data.get("code", "")}]


def _refreshed(event: AuditEvent) -> list[str]:
    return [_("Status hentet for %(n)s grunnlag.") % {"n": data_of(event).get("count", 0)}]


def _started(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("%(n)s grunnlag for %(period)s, til sammen %(sum)s kr.")
        % {
            "n": data.get("count", 0),
            "period": data.get("period") or "–",
            "sum": kr(data.get("total_ore")),
        }
    ]
    if data.get("unit"):
        out.append(_("Enhet: %(unit)s.") % {"unit": data["unit"]})
    if data.get("service"):
        out.append(_("Tjeneste: %(service)s.") % {"service": data["service"]})
    if data.get("test"):
        out.append(_("Testoverføring: låser ingen grunnlag."))
    return out


def _retry(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("%(n)s grunnlag sendes på nytt fra overføring #%(old)s.")
        % {"n": data.get("count", 0), "old": data.get("retry_of", "")}
    ]
    if data.get("include_rejected"):
        out.append(_("Også avviste grunnlag."))
    return out


def _stopped(event: AuditEvent) -> list[str]:
    data = data_of(event)
    return [
        _("Årsak: %(reason)s (%(code)s)")
        % {"reason": data.get("reason", ""), "code": data.get("code", "")}
    ]


def _label(choices: Any, value: object) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _finished(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("Resultat: %(status)s (%(code)s).")
        % {"status": _label(TransferStatus, data.get("status")), "code": data.get("status", "")}
    ]
    counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
    if counts:
        out.append(
            ", ".join(f"{_label(AttemptState, state)}: {n}" for state, n in sorted(counts.items()))
        )
    if data.get("test"):
        out.append(_("Testoverføring."))
    return out


VOCABULARY = Vocabulary(
    actions={
        "visma.settings_changed": Action(gettext_lazy("Visma-oppsettet endret"), _settings),
        "download.transfer_attempts": Action(
            gettext_lazy("Grunnlagene i en overføring lastet ned"), download_words
        ),
        "visma.connection_tested": Action(gettext_lazy("Visma-tilkobling testet"), _tested),
        "visma.status_refreshed": Action(gettext_lazy("Status hentet fra Visma"), _refreshed),
        "visma.transfer_started": Action(gettext_lazy("Overføring til Visma startet"), _started),
        "visma.transfer_retry_started": Action(
            gettext_lazy("Feilede grunnlag sendt på nytt"), _retry
        ),
        "visma.transfer_stopped": Action(gettext_lazy("Overføring til Visma stoppet"), _stopped),
        "visma.transfer_finished": Action(gettext_lazy("Overføring til Visma ferdig"), _finished),
    },
    objects={
        "integrations.Transfer": ObjectKind(
            gettext_lazy("Overføring til Visma"), "integrations:transfer_detail"
        ),
        "integrations.VismaSettings": ObjectKind(
            gettext_lazy("Visma-oppsett"),
            "integrations:settings",
            frozenset(ADMIN_ROLES),
            by_pk=False,
        ),
    },
)
