"""The file channel's audit actions in words, and the pages of the objects they name
(`invoices.audit_words`)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invoices.access import ADMIN_ROLES, BILLING_ROLES
from invoices.audit_words import Action, ObjectKind, Vocabulary, data_of, settings_changes
from invoices.models import AuditEvent
from invoices.templatetags.money import kr

from .models import AgressoLayout, ExportFormat, VismaLayout

_LAYOUTS: dict[str, type[VismaLayout] | type[AgressoLayout]] = {
    ExportFormat.VISMA: VismaLayout,
    ExportFormat.AGRESSO: AgressoLayout,
}


def _format(value: object) -> str:
    try:
        return str(ExportFormat(str(value)).label)
    except ValueError:
        return str(value or "")


def _layout(fmt: object, value: object) -> str:
    """The format's layout in words ("Utvidet (U)"); an unknown one as it was recorded."""
    choices = _LAYOUTS.get(str(fmt))
    try:
        return str(choices(str(value)).label) if choices else str(value or "")
    except ValueError:
        return str(value or "")


def _test(data: dict) -> list[str]:
    return [_("Testfil: låser ingen grunnlag.")] if data.get("is_test") else []


def _created(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("%(format)s, %(layout)s, for %(period)s.")
        % {
            "format": _format(data.get("format")),
            "layout": _layout(data.get("format"), data.get("layout")),
            "period": data.get("period", ""),
        }
    ]
    if data.get("unit"):
        out.append(_("Enhet: %(unit)s.") % {"unit": data["unit"]})
    if data.get("service"):
        out.append(_("Tjeneste: %(service)s.") % {"service": data["service"]})
    if data.get("basis_count") is not None:
        out.append(_("%(n)s valgte grunnlag.") % {"n": data["basis_count"]})
    return out + _test(data)


def _override(event: AuditEvent) -> list[str]:
    data = data_of(event)
    return [
        _("Begrunnelse: %(reason)s") % {"reason": data.get("reason", "")},
        _("%(n)s grunnlag.") % {"n": len(data.get("basis_ids") or [])},
    ]


def _done(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("Fil %(name)s: %(n)s grunnlag, til sammen %(sum)s kr.")
        % {
            "name": data.get("file_name", ""),
            "n": data.get("count", 0),
            "sum": kr(data.get("total_ore")),
        }
    ]
    if data.get("override"):
        out.append(_("Overstyrt eksport."))
    return out + _test(data)


def _refused(event: AuditEvent) -> list[str]:
    data = data_of(event)
    out = [
        _("%(errors)s feil og %(warnings)s advarsler.")
        % {"errors": data.get("errors", 0), "warnings": data.get("warnings", 0)}
    ]
    if data.get("codes"):
        # The codes stay in the event's data; people read the findings on the export's page.
        out.append(_("Funnene står på eksportens side."))
    return out


def _failed(event: AuditEvent) -> list[str]:
    return [_("Feil: %(failure)s") % {"failure": data_of(event).get("failure", "")}]


def _file(event: AuditEvent) -> list[str]:
    return [_("Fil: %(name)s.") % {"name": data_of(event).get("file_name", "")}]


def _integrity(event: AuditEvent) -> list[str]:
    return [
        *_file(event),
        _("Filen er ikke lenger den som ble laget (SHA-256 stemmer ikke), og ble ikke lastet ned."),
    ]


VOCABULARY = Vocabulary(
    actions={
        "export.created": Action(gettext_lazy("Eksport startet"), _created),
        "export.override": Action(gettext_lazy("Eksport overstyrt"), _override),
        "export.done": Action(gettext_lazy("Eksportfil laget"), _done),
        "export.refused": Action(gettext_lazy("Eksport stoppet av kontrollen"), _refused),
        "export.failed": Action(gettext_lazy("Eksport feilet"), _failed),
        "export.downloaded": Action(gettext_lazy("Eksportfil lastet ned"), _file),
        "export.integrity_failed": Action(gettext_lazy("Eksportfil endret på disken"), _integrity),
        "export_profile.changed": Action(gettext_lazy("Eksportoppsettet endret"), settings_changes),
    },
    objects={
        "exports.Export": ObjectKind(
            gettext_lazy("Eksport"), "exports:detail", frozenset(BILLING_ROLES)
        ),
        "exports.ExportProfile": ObjectKind(
            gettext_lazy("Eksportoppsett"), "exports:profile", frozenset(ADMIN_ROLES), by_pk=False
        ),
    },
)
