"""What the month and the Kontrollrapport look like as downloads: the columns, and the rows read
chunk by chunk from the database (`core.tabular` writes them as CSV or XLSX).

National ids are shown in full only to the roles that see them on the basis page
(`Access.sees_full_national_ids`); the Kontrollrapport always masks them, since a finding is
fixed in the care system, found there by its source reference. Every download of personal data is
recorded in the audit trail with who, what and how many rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.utils.translation import gettext as _

from core.actors import Actor
from core.db import among
from core.tabular import Column, Kind, Table, Total, file_name_part

from .audit import audit
from .identifiers import mask_national_id
from .labels import issue_label
from .models import BasisKind, BasisStatus, InvoiceBasis, InvoiceLine, basis_reference
from .selection import MonthSelection
from .validation import BasisReport

CHUNK = 2000


def party_id(national_id: str, org_number: str, *, full: bool) -> str:
    """A payer's or recipient's identifier as the reader may see it."""
    if national_id:
        return national_id if full else mask_national_id(national_id)
    return org_number


@dataclass(frozen=True)
class MonthDownload:
    """The page's selection (period, unit, service, and the list's status filter) of a
    municipality, and whether the reader sees full national ids."""

    selection: MonthSelection
    municipality_number: str
    bases: QuerySet[InvoiceBasis]
    status: str = ""
    full_ids: bool = False

    def file_name(self, stem: str, extension: str) -> str:
        parts = [stem, self.municipality_number, self.selection.period or "ingen-periode"]
        if self.selection.unit is not None:
            parts.append(self.selection.unit.code)
        if self.selection.service is not None:
            parts.append(self.selection.service.code)
        if self.status:
            parts.append(self.status)
        return "_".join(file_name_part(p) for p in parts) + "." + extension

    def counts(self) -> tuple[int, int]:
        """(bases, lines) in the selection, for the audit trail."""
        row = self.bases.order_by().aggregate(bases=Count("pk"), lines=Sum("line_count"))
        return row["bases"] or 0, row["lines"] or 0

    def bases_table(self) -> Table:
        columns = [
            Column(_("Referanse"), Kind.CODE, 16),
            Column(_("Kildereferanse"), Kind.CODE, 18),
            Column(_("Periode"), Kind.CODE, 9),
            Column(_("Enhet"), Kind.CODE, 12),
            Column(_("Enhetsnavn"), Kind.TEXT, 28),
            Column(_("Type"), Kind.TEXT, 11),
            Column(_("Status"), Kind.TEXT, 11),
            Column(_("Betaler"), Kind.TEXT, 26),
            Column(_("Betalers fødselsnr./org.nr."), Kind.CODE, 16),
            Column(_("Tjenestemottaker"), Kind.TEXT, 26),
            Column(_("Mottakers fødselsnr./org.nr."), Kind.CODE, 16),
            Column(_("Krediterer"), Kind.CODE, 16),
            Column(_("Linjer"), Kind.INTEGER, 8),
            Column(_("Sum kr"), Kind.MONEY, 14),
            Column(_("Mottatt"), Kind.DATETIME, 17),
            Column(_("Godkjent"), Kind.DATETIME, 17),
        ]
        return Table(_("Grunnlag"), columns, self._base_rows())

    def _base_rows(self) -> Iterator[tuple[Any, ...]]:
        number, full = self.municipality_number, self.full_ids
        kinds = dict(BasisKind.choices)
        statuses = dict(BasisStatus.choices)
        rows = (
            self.bases.order_by("pk")
            .values_list(
                "pk",
                "source_reference",
                "period",
                "unit__code",
                "unit__name",
                "kind",
                "status",
                "payer__name",
                "payer__national_id",
                "payer__org_number",
                "recipient__name",
                "recipient__national_id",
                "recipient__org_number",
                "credits_id",
                "line_count",
                "total_ore",
                "received_at",
                "approved_at",
            )
            .iterator(chunk_size=CHUNK)
        )
        count = lines = total = 0
        for (
            pk,
            ref,
            period,
            unit_code,
            unit_name,
            kind,
            status,
            payer,
            payer_nid,
            payer_org,
            recipient,
            recipient_nid,
            recipient_org,
            credits_id,
            line_count,
            total_ore,
            received_at,
            approved_at,
        ) in rows:
            count += 1
            lines += line_count
            total += total_ore
            yield (
                basis_reference(number, pk),
                ref,
                period,
                unit_code,
                unit_name,
                str(kinds.get(kind, kind)),
                str(statuses.get(status, status)),
                payer,
                party_id(payer_nid, payer_org, full=full),
                recipient,
                party_id(recipient_nid, recipient_org, full=full),
                basis_reference(number, credits_id) if credits_id else "",
                line_count,
                total_ore,
                received_at,
                approved_at,
            )
        label = _("Sum, %(count)d grunnlag") % {"count": count}
        yield Total((label, *[""] * 11, lines, total, None, None))

    def lines_table(self) -> Table:
        columns = [
            Column(_("Referanse"), Kind.CODE, 16),
            Column(_("Kildereferanse"), Kind.CODE, 18),
            Column(_("Linje"), Kind.INTEGER, 6),
            Column(_("Tjeneste"), Kind.CODE, 10),
            Column(_("Tjenestenavn"), Kind.TEXT, 24),
            Column(_("Beskrivelse"), Kind.TEXT, 30),
            Column(_("Antall"), Kind.QUANTITY, 10),
            Column(_("Enhetspris kr"), Kind.MONEY, 13),
            Column(_("Beløp kr"), Kind.MONEY, 14),
            Column(_("Fra"), Kind.DATE, 11),
            Column(_("Til"), Kind.DATE, 11),
            Column(_("Tekstlinjer"), Kind.TEXT, 40),
            Column(_("Kontering"), Kind.TEXT, 30),
        ]
        return Table(_("Linjer"), columns, self._line_rows())

    def _line_rows(self) -> Iterator[tuple[Any, ...]]:
        # Every line of the selected bases, also a service filter's bases' other lines: the lines
        # then add up to the bases' sums, as on the page.
        number = self.municipality_number
        # The ids first, not the selection as a subquery (see `validation.stored`).
        ids = list(self.bases.order_by().values_list("pk", flat=True))
        rows = (
            InvoiceLine.objects.filter(among("basis__id", ids))
            .order_by("basis_id", "line_no")
            .values_list(
                "basis_id",
                "basis__source_reference",
                "line_no",
                "service__code",
                "service__name",
                "description",
                "quantity",
                "unit_price_ore",
                "amount_ore",
                "service_from",
                "service_to",
                "texts",
                "dimensions",
            )
            .iterator(chunk_size=CHUNK)
        )
        count = total = 0
        for basis_id, ref, line_no, code, name, description, quantity, price, amount, *rest in rows:
            service_from, service_to, texts, dimensions = rest
            count += 1
            total += amount
            yield (
                basis_reference(number, basis_id),
                ref,
                line_no,
                code,
                name,
                description,
                quantity,
                price,
                amount,
                service_from,
                service_to,
                " | ".join(str(t) for t in texts or ()),
                "; ".join(f"{k}={v}" for k, v in (dimensions or {}).items()),
            )
        label = _("Sum, %(count)d linjer") % {"count": count}
        yield Total((label, *[""] * 7, total, None, None, "", ""))


def report_table(
    reports: dict[int, BasisReport],
    checked: QuerySet[InvoiceBasis],
    municipality_number: str,
) -> Table:
    """The Kontrollrapport: one row per finding, basis by basis, and a total line with the page's
    numbers (checked, with errors, with warnings) and the sum of the bases with findings."""
    columns = [
        Column(_("Referanse"), Kind.CODE, 16),
        Column(_("Kildereferanse"), Kind.CODE, 18),
        Column(_("Betaler"), Kind.TEXT, 26),
        Column(_("Betalers fødselsnr./org.nr."), Kind.CODE, 16),
        Column(_("Status"), Kind.TEXT, 11),
        Column(_("Sum kr"), Kind.MONEY, 14),
        Column(_("Alvor"), Kind.TEXT, 10),
        Column(_("Funn"), Kind.TEXT, 30),
        Column(_("Felt"), Kind.TEXT, 24),
        Column(_("Melding"), Kind.TEXT, 60),
        Column(_("Kode"), Kind.CODE, 22),
    ]
    return Table(_("Kontrollrapport"), columns, _report_rows(reports, checked, municipality_number))


def _report_rows(
    reports: dict[int, BasisReport], checked: QuerySet[InvoiceBasis], number: str
) -> Iterator[tuple[Any, ...]]:
    statuses = dict(BasisStatus.choices)
    error, warning = _("Feil"), _("Advarsel")
    with_findings = total = 0
    ids = (
        checked.order_by("pk")
        .values_list("pk", "payer__national_id", "payer__org_number")
        .iterator(chunk_size=CHUNK)
    )
    for pk, national_id, org_number in ids:
        report = reports.get(pk)
        if report is None or not report.issues:
            continue
        with_findings += 1
        total += report.total_ore
        shown_id = party_id(national_id, org_number, full=False)
        for issue in report.issues:
            yield (
                basis_reference(number, pk),
                report.source_reference,
                report.payer_name,
                shown_id,
                str(statuses.get(report.status, report.status)),
                report.total_ore,
                error if issue.is_error else warning,
                issue_label(issue.code),
                issue.field,
                issue.message,
                issue.code,
            )
    summary = _(
        "Kontrollert: %(checked)d grunnlag. Med feil: %(blocking)d. Med advarsler: %(warned)d."
    ) % report_numbers(reports)
    label = _("Sum, %(count)d grunnlag med funn") % {"count": with_findings}
    yield Total((label, "", "", "", "", total, "", summary, "", "", ""))


def report_numbers(reports: dict[int, BasisReport]) -> dict[str, int]:
    """The numbers the Kontrollrapport page shows at its top."""
    return {
        "checked": len(reports),
        "blocking": sum(1 for r in reports.values() if r.blocking),
        "warned": sum(1 for r in reports.values() if r.issues and r.warnings),
    }


def audit_download(
    what: str,
    *,
    actor: Actor,
    municipality: Any,
    file_name: str,
    rows: int,
    **details: Any,
) -> None:
    """One audit event per download of personal data: who (the actor), what, how many rows."""
    audit(
        f"download.{what}",
        actor=actor,
        municipality=municipality,
        file_name=file_name,
        rows=rows,
        **details,
    )
