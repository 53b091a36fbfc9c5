"""Intake validation of a request's bases: each basis and its parties, duplicates within the
request, and credit notes against the invoices they credit."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from django.utils.translation import gettext as _

from ..models import (
    BasisKind,
    InvoiceBasis,
    Municipality,
)
from .catalogue import Catalogue
from .checker import Checker, Memo
from .lines import fast_line, validate_line
from .normalized import BasisIn, LineIn, StoredOriginal, content_hash
from .rules import (
    BAD_CHARS,
    BASIS_FIELDS,
    KINDS,
    MAX_LINES,
    MAX_NAME,
    MAX_REFERENCE,
    MAX_UNIT_CODE,
    PERIOD,
    UNIT_FIELDS,
    Issue,
    echo,
    period_bounds,
)


def validate_basis(
    obj: Any, index: int, catalogue: Catalogue, issues: list[Issue], memo: Memo
) -> BasisIn | None:
    if not isinstance(obj, dict):
        issues.append(
            Issue("invalid_type", _("Fakturagrunnlaget må være et objekt"), "", index, None)
        )
        return None
    raw_ref = obj.get("source_reference")
    check = Checker(index, echo(raw_ref), issues, memo)
    errors_before = len(issues)
    if not BASIS_FIELDS.issuperset(obj.keys()):
        check.unknown_fields(obj, BASIS_FIELDS, "")

    ref = check.text(obj, "source_reference", "", limit=MAX_REFERENCE, required=True)

    period = obj.get("period")
    period_range = None
    if period is None or period == "":
        check.add("period", "required", _("Periode må fylles ut"))
    elif not isinstance(period, str) or not PERIOD.fullmatch(period):
        check.add("period", "invalid_format", _("Periode må skrives ÅÅÅÅ-MM"))
    else:
        period_range = memo.periods.get(period)
        if period_range is None:
            period_range = memo.periods[period] = period_bounds(period)

    unit_code = unit_name = ""
    unit = obj.get("unit")
    if unit is None:
        check.add("unit.code", "required", _("Enhet må fylles ut"))
    elif not isinstance(unit, dict):
        check.add("unit", "invalid_type", _("Enhet må være et objekt med kode og navn"))
    else:
        if not UNIT_FIELDS.issuperset(unit):
            check.unknown_fields(unit, UNIT_FIELDS, "unit.")
        unit_code = check.text(unit, "code", "unit.", limit=MAX_UNIT_CODE, required=True)
        unit_name = check.text(unit, "name", "unit.", limit=MAX_NAME) or unit_code

    kind = obj.get("kind")
    if kind is None or kind == "":
        check.add("kind", "required", _("Type må fylles ut (invoice eller credit)"))
        kind = ""
    elif not isinstance(kind, str) or kind not in KINDS:
        check.add("kind", "invalid_value", _("Type må være «invoice» eller «credit»"))
        kind = ""

    credits = obj.get("credits")
    credits_ref = ""
    if kind == BasisKind.INVOICE and credits not in (None, ""):
        check.add("credits", "credits_not_allowed", _("Bare en kreditnota kan peke på en faktura"))
    elif kind == BasisKind.CREDIT:
        credits_ref = check.text(obj, "credits", "", limit=MAX_REFERENCE, required=True)

    payer = None
    if obj.get("payer") is None:
        check.add("payer", "required", _("Betaler må fylles ut"))
    else:
        payer = check.party(obj["payer"], "payer.", is_payer=True, catalogue=catalogue)
    recipient_obj = obj.get("recipient")
    recipient = payer
    if recipient_obj is not None:
        recipient = check.party(recipient_obj, "recipient.", is_payer=False, catalogue=catalogue)

    lines: list[LineIn] = []
    raw_lines = obj.get("lines")
    if raw_lines is None or raw_lines == []:
        check.add("lines", "no_lines", _("Fakturagrunnlaget må ha minst én linje"))
    elif not isinstance(raw_lines, list):
        check.add("lines", "invalid_type", _("Linjer må være en liste"))
    elif len(raw_lines) > MAX_LINES:
        check.add(
            "lines",
            "too_many_lines",
            _("Høyst %(limit)d linjer per fakturagrunnlag, ikke %(count)d")
            % {"limit": MAX_LINES, "count": len(raw_lines)},
        )
    else:
        usable = (
            memo.usable_services(period, catalogue)
            if period_range and isinstance(period, str)
            else frozenset()
        )
        for i, raw_line in enumerate(raw_lines):
            line = fast_line(raw_line, i, kind, usable, catalogue, memo)
            if line is None:
                line = validate_line(check, raw_line, i, kind, catalogue, period_range)
            if line is not None:
                lines.append(line)

    if len(issues) > errors_before or payer is None or recipient is None:
        return None
    assert isinstance(period, str)
    basis = BasisIn(
        index=index,
        source_reference=ref,
        period=period,
        unit_code=unit_code,
        unit_name=unit_name,
        kind=kind,
        credits=credits_ref,
        payer=payer,
        recipient=recipient,
        lines=lines,
    )
    basis.content_hash = content_hash(basis)
    return basis


def validate_bases(
    bases: list[Any],
    catalogue: Catalogue,
    *,
    stored_originals: Mapping[str, StoredOriginal] | None = None,
    index_offset: int = 0,
    earlier_references: Collection[str] = (),
) -> tuple[list[BasisIn], list[Issue]]:
    """Check a request's bases. Returns the normalized bases and every issue found.

    `stored_originals` maps the `credits` references to invoices already stored (the caller
    looks them up, see `credited_references`). `index_offset` and `earlier_references` let a file
    import number bases and find duplicates across its chunks.
    """
    issues: list[Issue] = []
    valid: list[BasisIn] = []
    first_seen: dict[str, BasisIn | None] = {}
    stored = stored_originals or {}
    memo = Memo()
    in_request = {
        obj["source_reference"]
        for obj in bases
        if isinstance(obj, dict) and isinstance(obj.get("source_reference"), str)
    }
    for position, obj in enumerate(bases):
        index = index_offset + position
        basis = validate_basis(obj, index, catalogue, issues, memo)
        ref = obj.get("source_reference") if isinstance(obj, dict) else None
        if isinstance(ref, str) and ref:
            if ref in first_seen or ref in earlier_references:
                issues.append(
                    Issue(
                        "duplicate_reference",
                        _("Kildereferansen er brukt av et annet grunnlag i samme innsending"),
                        "source_reference",
                        index,
                        echo(ref),
                    )
                )
                continue
            first_seen[ref] = basis
        if basis is None:
            continue
        if basis.kind == BasisKind.CREDIT and not _credit_ok(
            basis, first_seen, in_request, stored, issues
        ):
            continue
        valid.append(basis)
    return valid, issues


def _credit_ok(
    basis: BasisIn,
    earlier: Mapping[str, BasisIn | None],
    in_request: Collection[str],
    stored: Mapping[str, StoredOriginal],
    issues: list[Issue],
) -> bool:
    def fail(code: str, message: str) -> bool:
        issues.append(Issue(code, message, "credits", basis.index, basis.source_reference))
        return False

    if basis.credits in earlier:
        original = earlier[basis.credits]
        if original is None:
            return fail(
                "unknown_credit_reference",
                _("Grunnlaget som krediteres, er selv ugyldig i denne innsendingen"),
            )
        kind, payer_key = original.kind, original.payer.key
    elif basis.credits in in_request:
        return fail(
            "unknown_credit_reference",
            _("Fakturaen som krediteres, må komme før kreditnotaen i innsendingen"),
        )
    elif basis.credits in stored:
        found = stored[basis.credits]
        kind, payer_key = found.kind, (found.national_id, found.org_number)
    else:
        return fail(
            "unknown_credit_reference",
            _(
                "Fant ingen faktura med kildereferanse «%(ref)s», verken lagret eller "
                "tidligere i innsendingen"
            )
            % {"ref": echo(basis.credits)},
        )
    if kind != BasisKind.INVOICE:
        return fail("credit_target_not_invoice", _("En kreditnota kan bare peke på en faktura"))
    if payer_key != basis.payer.key:
        return fail(
            "credit_payer_mismatch",
            _("Kreditnotaen må ha samme betaler som fakturaen den krediterer"),
        )
    return True


def credited_references(bases: Iterable[Any]) -> set[str]:
    """The `credits` references a request names, so the caller can look them up in one query.

    Only references that could be valid go to the database: the query runs before validation,
    and PostgreSQL answers a NUL in a text value with an error, not with no rows."""
    refs = set()
    for obj in bases:
        if isinstance(obj, dict) and obj.get("kind") == BasisKind.CREDIT:
            ref = obj.get("credits")
            if isinstance(ref, str) and 0 < len(ref) <= MAX_REFERENCE and not BAD_CHARS.search(ref):
                refs.add(ref)
    return refs


def load_stored_originals(
    municipality: Municipality, refs: Collection[str]
) -> dict[str, StoredOriginal]:
    if not refs:
        return {}
    rows = InvoiceBasis.objects.filter(
        municipality=municipality, source_reference__in=list(refs)
    ).values_list("source_reference", "pk", "kind", "payer__national_id", "payer__org_number")
    return {ref: StoredOriginal(pk, kind, nid, org) for ref, pk, kind, nid, org in rows}
