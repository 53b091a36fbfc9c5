"""The Visma channel's part of a basis's story (`invoices.timeline`): each transfer that carried
it with Visma's answer and messages, and what Visma later said of the invoice (number, KID,
dates). Two queries."""

from __future__ import annotations

from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from invoices.models import InvoiceBasis
from invoices.templatetags.money import kr
from invoices.timeline import TimelineEvent

from .models import AttemptState, BasisVismaStatus, TransferAttempt

# Visma's answer to SendFakturagrunnlag (`status`), and its `tilstand` in HentStatus.
ANSWERS = {
    "MOTTATT": gettext_lazy("mottatt"),
    "DUPLIKAT": gettext_lazy("mottatt tidligere (duplikat, ikke lagret på nytt)"),
    "AVVIST": gettext_lazy("avvist"),
    "VALIDERT": gettext_lazy("godkjent i testmodus"),
}
STATES_IN_VISMA = {
    "UKJENT": gettext_lazy("ukjent i Visma"),
    "MOTTATT": gettext_lazy("mottatt, ikke fakturert ennå"),
    "FAKTURERT": gettext_lazy("fakturert"),
    "AVVIST": gettext_lazy("avvist"),
}
_TITLES = {
    AttemptState.SENT: (gettext_lazy("Sendt til Visma"), "sent"),
    AttemptState.REJECTED: (gettext_lazy("Avvist av Visma"), "refused"),
    AttemptState.VALIDATED: (gettext_lazy("Godkjent i testoverføring"), "waiting"),
    AttemptState.FAILED: (gettext_lazy("Sending til Visma feilet"), "failed"),
}


def words(code: str, table: dict) -> str:
    """Visma's code in words, with the code itself for support: «mottatt (MOTTATT)»."""
    return f"{table[code]} ({code})" if code in table else code


def basis_events(basis: InvoiceBasis) -> list[TimelineEvent]:
    attempts = (
        TransferAttempt.objects.filter(basis_id=basis.pk)
        .select_related("transfer", "transfer__created_by")
        .order_by("created_at", "id")
    )
    events = [_attempt(a) for a in attempts]
    status = BasisVismaStatus.objects.filter(basis_id=basis.pk).first()
    if status is not None:
        events.append(_status(status))
    return events


def _attempt(a: TransferAttempt) -> TimelineEvent:
    title, kind = _TITLES.get(AttemptState(a.state), (gettext_lazy("Sendes til Visma"), "waiting"))
    details = []
    if a.state not in _TITLES:
        details.append(_("Tilstand: %(state)s.") % {"state": a.get_state_display()})
    if a.visma_status:
        answer = words(a.visma_status, ANSWERS)
        details.append(_("Svar fra Visma: %(answer)s.") % {"answer": answer})
    if a.grunnlag_id:
        details.append(_("Grunnlagets ID i Visma: %(id)s.") % {"id": a.grunnlag_id})
    for m in a.messages if isinstance(a.messages, list) else []:
        if isinstance(m, dict):
            felt = f" ({m['felt']})" if m.get("felt") else ""
            details.append(f"{m.get('kode', '')}: {m.get('tekst', '')}{felt}")
    if a.last_error and a.state != AttemptState.SENT:
        details.append(a.last_error)
    if a.send_count > 1:
        details.append(_("Sendt %(n)d ganger (uten å bli lagret to ganger).") % {"n": a.send_count})
    transfer = a.transfer
    shown = str(title)
    if a.is_test:
        shown = _("Testoverføring: %(what)s") % {"what": shown}
    return TimelineEvent(
        a.finished_at or a.last_sent_at or a.created_at,
        shown,
        kind,
        transfer.created_by.get_username() if transfer.created_by else "",
        tuple(details),
        (
            (
                reverse("integrations:transfer_detail", args=[transfer.pk]),
                _("Overføring #%(n)d") % {"n": transfer.pk},
            ),
        ),
        code=a.state,
    )


def _status(status: BasisVismaStatus) -> TimelineEvent:
    details = []
    if status.fakturanummer:
        details.append(_("Fakturanummer: %(n)s.") % {"n": status.fakturanummer})
    if status.kid:
        details.append(_("KID: %(kid)s.") % {"kid": status.kid})
    if status.fakturadato:
        details.append(_("Fakturadato: %(d)s.") % {"d": date_format(status.fakturadato, "d.m.Y")})
    if status.forfallsdato:
        details.append(_("Forfall: %(d)s.") % {"d": date_format(status.forfallsdato, "d.m.Y")})
    if status.belop_ore is not None:
        details.append(_("Beløp i Visma: %(sum)s kr.") % {"sum": kr(status.belop_ore)})
    details += [str(w) for w in status.warnings if w] if isinstance(status.warnings, list) else []
    return TimelineEvent(
        status.checked_at,
        _("Status i Visma: %(state)s") % {"state": words(status.tilstand, STATES_IN_VISMA)},
        "invoiced" if status.tilstand == "FAKTURERT" else "sent",
        "",
        tuple(details),
    )
