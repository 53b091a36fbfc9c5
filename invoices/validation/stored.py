"""Stored bases, before approval: checked again against today's catalogue and rules, in a constant
number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from core.db import among

from ..identifiers import InvalidIdentifier, validate_national_id
from ..models import (
    BasisKind,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
)
from ..templatetags.money import money
from .catalogue import Catalogue
from .rules import MAX_LINES, Issue, Severity, period_bounds


@dataclass
class BasisReport:
    """The findings for one stored basis."""

    basis_id: int
    source_reference: str
    payer_name: str
    total_ore: int = 0
    status: str = ""
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    @property
    def blocking(self) -> bool:
        return any(i.is_error for i in self.issues)


def validate_stored(
    municipality: Municipality,
    bases: QuerySet[InvoiceBasis],
    *,
    catalogue: Catalogue | None = None,
) -> dict[int, BasisReport]:
    """Re-check stored bases against today's catalogue and rules, in a constant number of queries.

    Blocking: the service no longer billable or not valid in the period, a dimension key no longer
    defined, a national id the installation no longer accepts, lines that disagree with the stored
    total. Warnings (they do not stop approval): no postal address for the payer (each export
    format decides whether it needs one), a zero total, and a credit note whose original is,
    with all its credit notes, credited more than it was billed.
    """
    catalogue = catalogue or Catalogue.load(municipality)
    bases = bases.filter(municipality=municipality)
    reports: dict[int, BasisReport] = {}
    periods: dict[int, str] = {}
    checked_ids: dict[str, Issue | None] = {}

    def id_issue(value: str) -> Issue | None:
        if value not in checked_ids:
            try:
                validate_national_id(value, allow_synthetic=catalogue.allow_synthetic)
                checked_ids[value] = None
            except InvalidIdentifier as exc:
                checked_ids[value] = Issue(exc.code, exc.message)
        return checked_ids[value]

    rows = bases.order_by("pk").values_list(
        "pk",
        "source_reference",
        "status",
        "period",
        "total_ore",
        "payer__name",
        "payer__national_id",
        "payer__address1",
        "payer__postcode",
        "payer__place",
        "recipient__national_id",
    )
    for (
        pk,
        ref,
        status,
        period,
        total,
        payer_name,
        payer_nid,
        address1,
        postcode,
        place,
        recipient_nid,
    ) in rows.iterator(chunk_size=5000):
        report = BasisReport(pk, ref, payer_name, total, status)
        reports[pk] = report
        periods[pk] = period

        def add(code: str, message: str, field_name: str, severity: Severity = "error") -> None:
            report.issues.append(Issue(code, message, field_name, None, ref, severity, pk))  # noqa: B023

        for field_name, nid in (
            ("payer.national_id", payer_nid),
            ("recipient.national_id", recipient_nid),
        ):
            if nid:
                problem = id_issue(nid)
                if problem is not None:
                    add(problem.code, problem.message, field_name)
        if not (address1 and postcode and place):
            add(
                "missing_address",
                _("Betaleren mangler postadresse (adresse, postnummer og poststed)"),
                "payer.address1",
                "warning",
            )
        if total == 0:
            add("zero_amount", _("Fakturagrunnlaget har sum 0 kr"), "", "warning")

    if not reports:
        return reports
    # The ids just read, not the selection again as a subquery: a service filter is itself a
    # subquery over the lines, and nested in another one PostgreSQL may plan nested loops over
    # every line.
    lines = InvoiceLine.objects.filter(among("basis__id", list(reports)))

    def line_issue(basis_id: int, line_no: int, code: str, message: str, suffix: str) -> None:
        report = reports[basis_id]
        report.issues.append(
            Issue(
                code,
                message,
                f"lines[{line_no - 1}].{suffix}",
                None,
                report.source_reference,
                "error",
                basis_id,
            )
        )

    # Only the lines that can be wrong are read: those of services that fail in their basis's
    # period (usually none), and those that override dimensions.
    for period in set(periods.values()):
        first_day, last_day = period_bounds(period)
        failing = {
            info.id: (code, info)
            for code, info in catalogue.services.items()
            if not info.billable or not info.valid_in(first_day, last_day)
        }
        if not failing:
            continue
        rows_in_period = lines.filter(basis__period=period, service_id__in=list(failing))
        for basis_id, line_no, service_id in rows_in_period.order_by(
            "basis_id", "line_no"
        ).values_list("basis_id", "line_no", "service_id"):
            code, info = failing[service_id]
            if not info.billable:
                message = _("Tjenesten «%(code)s» er ikke fakturerbar") % {"code": code}
                line_issue(basis_id, line_no, "service_not_billable", message, "service_code")
            else:
                message = _("Tjenesten «%(code)s» er ikke gyldig i perioden") % {"code": code}
                line_issue(basis_id, line_no, "service_not_valid", message, "service_code")

    overriding = lines.exclude(dimensions={}).order_by("basis_id", "line_no")
    for basis_id, line_no, dimensions in overriding.values_list(
        "basis_id", "line_no", "dimensions"
    ).iterator(chunk_size=10000):
        for key in dimensions or {}:
            if key not in catalogue.dimension_keys:
                message = _("Dimensjonen «%(key)s» er ikke lenger definert for kommunen") % {
                    "key": key
                }
                line_issue(basis_id, line_no, "unknown_dimension", message, f"dimensions.{key}")

    # Stored totals against their lines, summed by the database; only disagreements come back.
    disagreeing = (
        bases.order_by()
        .annotate(line_sum=Coalesce(Sum("lines__amount_ore"), 0), lines_counted=Count("lines"))
        .filter(
            ~Q(total_ore=F("line_sum"))
            | ~Q(line_count=F("lines_counted"))
            | Q(line_count__lt=1)
            | Q(line_count__gt=MAX_LINES)
        )
        .values_list("pk", flat=True)
    )
    for pk in disagreeing:
        report = reports[pk]
        report.issues.append(
            Issue(
                "total_mismatch",
                _("Linjene stemmer ikke med lagret sum og antall linjer"),
                "",
                None,
                report.source_reference,
                "error",
                pk,
            )
        )
    _over_credited(bases, reports)
    return reports


def _over_credited(bases: QuerySet[InvoiceBasis], reports: dict[int, BasisReport]) -> None:
    """A warning on each credit note whose original, with all its credit notes together, is
    credited more than it was billed. The product's own credit form never allows it; the care
    system's credit notes arrive through intake, which accepts them as the spec says, so the
    clerk is told here before the month leaves. Three queries, whatever the month's size."""
    credits = dict(
        bases.order_by().filter(kind=BasisKind.CREDIT, credits__isnull=False)
        .values_list("pk", "credits_id")
    )  # fmt: skip
    if not credits:
        return
    originals = sorted(set(credits.values()))
    billed = dict(
        InvoiceBasis.objects.filter(among("id", originals)).values_list("pk", "total_ore")
    )
    credited = dict(
        InvoiceBasis.objects.filter(among("credits__id", originals))
        .order_by()
        .values_list("credits_id")
        .annotate(total=Sum("total_ore"))
        .values_list("credits_id", "total")
    )
    for pk, original in credits.items():
        over = -(billed.get(original, 0) + (credited.get(original) or 0))
        if over <= 0:
            continue
        report = reports[pk]
        message = _(
            "Kreditnotaene til originalen krediterer til sammen %(over)s mer enn den var på"
        ) % {"over": money(over)}
        report.issues.append(
            Issue(
                "over_credited",
                message,
                "credits",
                None,
                report.source_reference,
                "warning",
                pk,
            )
        )
