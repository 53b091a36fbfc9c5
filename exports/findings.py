"""What an export run reports: the findings it keeps, and those about the selection itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from invoices.models import (
    BasisStatus,
    InvoiceBasis,
    basis_reference,
)

from .formats.types import Finding
from .models import (
    Export,
    ExportProfile,
)
from .selectors import Selection

# A month with a broken mapping can produce one error per line; the report keeps the first ones
# and the counts.
MAX_STORED_FINDINGS = 5000


def finding_dict(f: Finding) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies, which is most of the cost for 30 000 warnings.
    return {
        "code": f.code,
        "message": f.message,
        "severity": f.severity,
        "basis_pk": f.basis_pk,
        "reference": f.reference,
        "field": f.field,
    }


def kept_findings(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Errors first, so a capped report still shows what blocks the file."""
    ordered = [f for f in findings if f.severity == "error"]
    ordered += [f for f in findings if f.severity != "error"]
    return [finding_dict(f) for f in ordered[:MAX_STORED_FINDINGS]]


def selection_findings(
    export: Export, profile: ExportProfile, selection: Selection, count: int
) -> list[Finding]:
    """What is wrong with the selection itself: asked-for bases it does not hold (and why), an
    empty selection, and the zero-amount bases the profile holds back."""
    e = export
    number = export.municipality.number
    findings: list[Finding] = []
    if e.basis_ids is not None:
        eligible = set(selection.queryset().values_list("pk", flat=True))
        others = (
            InvoiceBasis.objects.filter(municipality=export.municipality, pk__in=e.basis_ids)
            .exclude(pk__in=eligible)
            .values_list("pk", "status", "period")
        )
        found = set()
        for pk, status, period in others:
            found.add(pk)
            if status == BasisStatus.EXPORTED and not e.override:
                message = _(
                    "Grunnlaget er allerede eksportert. Ny eksport krever overstyring av"
                    " superbruker."
                )
                code = "already_exported"
            elif period != e.period:
                message = _("Grunnlaget hører til periode %(p)s.") % {"p": period}
                code = "wrong_period"
            elif status == BasisStatus.APPROVED:
                message = _("Grunnlaget er utenfor utvalget (enhet eller 0 kr).")
                code = "outside_selection"
            else:
                message = _("Grunnlaget er ikke godkjent (status: %(s)s).") % {
                    "s": BasisStatus(status).label
                }
                code = "not_approved"
            findings.append(
                Finding(
                    code=code,
                    message=message,
                    basis_pk=pk,
                    reference=basis_reference(number, pk),
                )
            )
        for pk in sorted(set(e.basis_ids) - eligible - found):
            findings.append(
                Finding(code="unknown_basis", message=_("Fant ikke grunnlag %(pk)s.") % {"pk": pk})
            )
    if count == 0 and not findings:
        findings.append(
            Finding(
                code="empty_selection",
                message=_("Ingen godkjente fakturagrunnlag i utvalget."),
            )
        )
    if not profile.include_zero_amount:
        skipped = (
            Selection(
                municipality=selection.municipality,
                period=selection.period,
                unit_id=selection.unit_id,
                service_id=selection.service_id,
                basis_ids=selection.basis_ids,
                statuses=selection.statuses,
            )
            .queryset()
            .filter(total_ore=0)
            .count()
        )
        if skipped:
            findings.append(
                Finding(
                    code="zero_amount_skipped",
                    message=_(
                        "%(n)d grunnlag på 0 kr er holdt utenfor filen (eksportoppsettet) og"
                        " forblir godkjent."
                    )
                    % {"n": skipped},
                    severity="warning",
                )
            )
    return findings


@dataclass(frozen=True)
class FindingGroup:
    """Findings that say the same thing (code, field, message) about several bases, shown once."""

    code: str
    field: str
    message: str
    bases: list[tuple[int, str]]  # (basis pk, reference), the first SHOWN_PER_GROUP of them
    count: int

    @property
    def more(self) -> int:
        return self.count - len(self.bases)


SHOWN_PER_GROUP = 10


def grouped(findings: Sequence[Mapping[str, Any]]) -> list[FindingGroup]:
    """One row per kind of finding, the rarest first: a single real warning is never buried
    under a hundred alike ones (e.g. letters the file's encoding replaces)."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for f in findings:
        key = (str(f.get("code", "")), str(f.get("field", "")), str(f.get("message", "")))
        groups.setdefault(key, []).append(f)
    out = []
    for (code, field_, message), members in groups.items():
        with_basis = [m for m in members if m.get("basis_pk")]
        out.append(
            FindingGroup(
                code=code,
                field=field_,
                message=message,
                bases=[
                    (int(m["basis_pk"]), str(m.get("reference") or m["basis_pk"]))
                    for m in with_basis[:SHOWN_PER_GROUP]
                ],
                count=len(members),
            )
        )
    return sorted(out, key=lambda g: (g.count, g.code, g.field))
