"""The transfers to Visma as CSV and XLSX: the list (one row per transfer, as the page shows it)
and the attempts of one transfer (one row per basis, with Visma's answer, invoice number and KID).

The list names no citizen and is not audited; the attempts name payers, so their national ids
follow the basis page's rule (`Access.sees_full_national_ids`) and each download is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core.tabular import Column, Kind, Table, Total, table_response, today_in_norway
from invoices.access import VIEW_ROLES, get_for_access, require_access, scoped
from invoices.downloads import audit_download, party_id

from .models import AttemptState, Transfer, TransferAttempt, TransferStatus

CHUNK = 1000


def transfers_table(transfers: QuerySet[Transfer]) -> Table:
    columns = [
        Column(_("Nr."), Kind.INTEGER, 7),
        Column(_("Startet"), Kind.DATETIME, 17),
        Column(_("Av"), Kind.TEXT, 16),
        Column(_("Periode"), Kind.CODE, 9),
        Column(_("Enhet"), Kind.CODE, 12),
        Column(_("Tjeneste"), Kind.CODE, 10),
        Column(_("Test"), Kind.TEXT, 6),
        Column(_("Ny sending av"), Kind.INTEGER, 9),
        Column(_("Status"), Kind.TEXT, 12),
        Column(_("Grunnlag"), Kind.INTEGER, 10),
        Column(_("Sendt"), Kind.INTEGER, 8),
        Column(_("Avvist"), Kind.INTEGER, 8),
        Column(_("Feilet"), Kind.INTEGER, 8),
        Column(_("Sum kr"), Kind.MONEY, 14),
        Column(_("Ferdig"), Kind.DATETIME, 17),
        Column(_("Årsak til stopp"), Kind.TEXT, 40),
    ]
    return Table(_("Overføringer"), columns, _transfer_rows(transfers))


def _transfer_rows(transfers: QuerySet[Transfer]) -> Iterator[tuple[Any, ...]]:
    statuses = dict(TransferStatus.choices)
    yes, system = _("Ja"), _("system")
    rows = (
        transfers.order_by("-created_at", "-id")
        .values_list(
            "pk",
            "created_at",
            "created_by__username",
            "period",
            "unit__code",
            "service__code",
            "is_test",
            "retry_of_id",
            "status",
            "basis_count",
            "counts",
            "total_ore",
            "finished_at",
            "stop_reason",
        )
        .iterator(chunk_size=CHUNK)
    )
    sums = [0, 0, 0, 0, 0]  # transfers, bases, sent, rejected, failed
    total = 0
    for pk, created, user, period, unit, service, is_test, retry_of, status, *rest in rows:
        basis_count, counts, total_ore, finished, stop_reason = rest
        counts = counts or {}
        # Like the page: a test transfer's "sent" are the bases Visma validated.
        sent = counts.get("validated" if is_test else "sent", 0)
        rejected, failed = counts.get("rejected", 0), counts.get("failed", 0)
        for i, n in enumerate((1, basis_count, sent, rejected, failed)):
            sums[i] += n
        total += total_ore
        yield (
            pk,
            created,
            user or system,
            period,
            unit or "",
            service or "",
            yes if is_test else "",
            retry_of,
            str(statuses.get(status, status)),
            basis_count,
            sent,
            rejected,
            failed,
            total_ore,
            finished,
            stop_reason,
        )
    label = _("Sum, %(count)d overføringer") % {"count": sums[0]}
    yield Total((label, *[None] * 8, *sums[1:], total, None, ""))


def attempts_table(attempts: QuerySet[TransferAttempt], *, full_ids: bool) -> Table:
    columns = [
        Column(_("Referanse"), Kind.CODE, 16),
        Column(_("Kildereferanse"), Kind.CODE, 18),
        Column(_("Betaler"), Kind.TEXT, 26),
        Column(_("Betalers fødselsnr./org.nr."), Kind.CODE, 16),
        Column(_("Tilstand"), Kind.TEXT, 22),
        Column(_("Kan sendes på nytt"), Kind.TEXT, 10),
        Column(_("Svar fra Visma"), Kind.TEXT, 16),
        Column(_("grunnlagId"), Kind.CODE, 14),
        Column(_("Forsøk"), Kind.INTEGER, 8),
        Column(_("Sist sendt"), Kind.DATETIME, 17),
        Column(_("Meldinger"), Kind.TEXT, 50),
        Column(_("Siste feil"), Kind.TEXT, 40),
        Column(_("Fakturanummer"), Kind.CODE, 14),
        Column(_("KID"), Kind.CODE, 26),
        Column(_("Sum kr"), Kind.MONEY, 14),
    ]
    return Table(_("Grunnlag"), columns, _attempt_rows(attempts, full_ids))


def _messages(messages: Any) -> str:
    parts = []
    for m in messages or ():
        text = f"{m.get('kode', '')}: {m.get('tekst', '')}".strip(": ")
        parts.append(f"{text} ({m['felt']})" if m.get("felt") else text)
    return " | ".join(parts)


def _attempt_rows(attempts: QuerySet[TransferAttempt], full_ids: bool) -> Iterator[tuple[Any, ...]]:
    states = dict(AttemptState.choices)
    yes = _("Ja")
    rows = (
        attempts.order_by("id")
        .values_list(
            "reference",
            "basis__source_reference",
            "basis__payer__name",
            "basis__payer__national_id",
            "basis__payer__org_number",
            "state",
            "retryable",
            "visma_status",
            "grunnlag_id",
            "send_count",
            "last_sent_at",
            "messages",
            "last_error",
            "basis__visma_status__fakturanummer",
            "basis__visma_status__kid",
            "basis__total_ore",
        )
        .iterator(chunk_size=CHUNK)
    )
    count = total = 0
    for reference, source_ref, payer, national_id, org_number, state, retryable, *rest in rows:
        visma_status, grunnlag_id, sends, last_sent, messages, last_error, *ends = rest
        invoice_number, kid, total_ore = ends
        count += 1
        total += total_ore
        yield (
            reference,
            source_ref,
            payer,
            party_id(national_id, org_number, full=full_ids),
            str(states.get(state, state)),
            yes if state == AttemptState.FAILED and retryable else "",
            visma_status,
            grunnlag_id,
            sends,
            last_sent,
            _messages(messages),
            last_error,
            invoice_number or "",
            kid or "",
            total_ore,
        )
    label = _("Sum, %(count)d grunnlag") % {"count": count}
    yield Total((label, *[None] * 13, total))


def _transfers(request: HttpRequest, extension: str) -> HttpResponseBase:
    access = require_access(request, VIEW_ROLES)
    table = transfers_table(scoped(Transfer.objects.all(), access))
    return table_response(
        table,
        f"overforinger_{access.municipality.number}_{today_in_norway()}.{extension}",
        extension,
    )


def _attempts(request: HttpRequest, pk: int, extension: str) -> HttpResponseBase:
    access = require_access(request, VIEW_ROLES)
    transfer = get_for_access(Transfer.objects.all(), access, pk=pk)
    attempts = TransferAttempt.objects.filter(transfer=transfer)
    state = request.GET.get("state", "")
    name = f"overforing_{access.municipality.number}_{transfer.pk}"
    if state in AttemptState.values:
        attempts = attempts.filter(state=state)
        name += f"_{state}"
    else:
        state = ""
    file_name = f"{name}.{extension}"
    audit_download(
        "transfer_attempts",
        actor=request.user,
        municipality=access.municipality,
        file_name=file_name,
        rows=attempts.count(),
        transfer=transfer.pk,
        full_national_ids=access.sees_full_national_ids,
        **({"state": state} if state else {}),
    )
    table = attempts_table(attempts, full_ids=access.sees_full_national_ids)
    return table_response(table, file_name, extension)


@login_required
@require_GET
def transfers_csv(request: HttpRequest) -> HttpResponseBase:
    return _transfers(request, "csv")


@login_required
@require_GET
def transfers_xlsx(request: HttpRequest) -> HttpResponseBase:
    return _transfers(request, "xlsx")


@login_required
@require_GET
def attempts_csv(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _attempts(request, pk, "csv")


@login_required
@require_GET
def attempts_xlsx(request: HttpRequest, pk: int) -> HttpResponseBase:
    return _attempts(request, pk, "xlsx")
