"""Intake: the one writer behind the API and the import command (spec/intake.md).

A request is stored whole or not at all. Each basis is identified by its source reference; the
SHA-256 of its normalized content (`content_hash`) tells a safe retry (*unchanged*) from a
correction (*updated* while still received, *409* once approved or further).

Writes are bulk statements with a constant number of queries per request, whatever the number of
bases and lines: units, parties, bases and lines are each written with one `bulk_create` (an
upsert where rows may exist), and idempotency rests on the unique constraints, not on a read per
row.

Why one module of about 680 lines: it is the one writer, and its all-or-nothing transaction, the
corrections and the bulk writes it is made of read in one place; what is accepted lives in
`validation/`, the month totals in `summaries.py`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.bulk import insert_rows
from core.db import among

from . import anomalies, summaries
from .audit import audit, audit_each
from .models import (
    LINE_COLUMNS,
    ApiToken,
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Party,
    Unit,
)
from .validation import (
    BasisIn,
    Catalogue,
    Issue,
    PartyIn,
    credited_references,
    echo,
    load_stored_originals,
    validate_bases,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE: int = settings.INTAKE_MAX_BASES_PER_REQUEST
MUNICIPALITY_NUMBER = re.compile(r"[0-9]{4}")
DOCUMENT_FIELDS = frozenset({"municipality", "invoice_bases"})


@dataclass
class IntakeResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    units_created: int = 0
    parties_created: int = 0
    parties_updated: int = 0
    updated_references: list[str] = field(default_factory=list)

    def as_response(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}

    def add(self, other: IntakeResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.units_created += other.units_created
        self.parties_created += other.parties_created
        self.parties_updated += other.parties_updated
        self.updated_references.extend(other.updated_references)


class IntakeError(Exception):
    """Nothing from the request was stored. `errors` say why, in the API's error shape."""

    status = 400

    def __init__(self, errors: list[Issue]) -> None:
        super().__init__(f"{len(errors)} feil")
        self.errors = errors


class IntakeRejected(IntakeError):
    """Invalid input (400)."""


class IntakeForbidden(IntakeError):
    """The document names a municipality the caller may not write to (403)."""

    status = 403


class IntakeConflict(IntakeError):
    """A changed basis that is no longer *received* (409): corrections go through a credit note."""

    status = 409

    @property
    def references(self) -> list[str]:
        return [e.source_reference or "" for e in self.errors]


def _document_error(field_name: str, code: str, message: str) -> IntakeRejected:
    return IntakeRejected([Issue(code, message, field_name)])


def _municipality_number(document: Any) -> str:
    if not isinstance(document, dict):
        raise _document_error("", "invalid_type", _("Dokumentet må være et JSON-objekt"))
    number = document.get("municipality")
    if number is None or number == "":
        raise _document_error("municipality", "required", _("Kommunenummer må fylles ut"))
    if not isinstance(number, str):
        raise _document_error(
            "municipality", "invalid_type", _("Kommunenummer må være en tekst med 4 siffer")
        )
    return number


def find_municipality(document: Any) -> Municipality:
    """The municipality a document names, or IntakeRejected (missing, malformed or unknown)."""
    number = _municipality_number(document)
    # Checked before the lookup: PostgreSQL answers a NUL in a text value with an error.
    if not MUNICIPALITY_NUMBER.fullmatch(number):
        raise _document_error(
            "municipality",
            "invalid_format",
            _("Kommunenummer «%(number)s» er ikke fire siffer") % {"number": echo(number, 8)},
        )
    municipality = Municipality.objects.filter(number=number).first()
    if municipality is None:
        raise _document_error(
            "municipality",
            "unknown_municipality",
            _("Kommunenummer «%(number)s» er ikke kjent her") % {"number": echo(number, 8)},
        )
    return municipality


def municipality_for_token(document: Any, token: ApiToken) -> Municipality:
    """The token's municipality, if the document names it; else IntakeForbidden (403) whatever
    the number is, so that a key holder cannot tell another tenant's number from no tenant's
    (spec/intake.md). Compared as text, without a query."""
    if _municipality_number(document) != token.municipality.number:
        raise IntakeForbidden(
            [
                Issue(
                    "forbidden_municipality",
                    _("API-nøkkelen gjelder ikke for kommunenummeret i dokumentet"),
                    "municipality",
                )
            ]
        )
    return token.municipality


def intake_document(
    document: Any, *, token: ApiToken | None = None, actor: Actor = None
) -> IntakeResult:
    """Store one intake document (an API request body): municipality check, size cap, intake."""
    if token is not None:
        municipality = municipality_for_token(document, token)
    else:
        municipality = find_municipality(document)
    extra = sorted(set(document) - DOCUMENT_FIELDS)
    if extra:
        raise IntakeRejected(
            [
                Issue(
                    "unknown_field",
                    _("Feltet «%(name)s» er ukjent") % {"name": echo(k, 40)},
                    echo(k, 40) or "",
                )
                for k in extra
            ]
        )
    bases = document.get("invoice_bases")
    if bases is None:
        raise _document_error("invoice_bases", "required", _("invoice_bases må fylles ut"))
    if not isinstance(bases, list):
        raise _document_error("invoice_bases", "invalid_type", _("invoice_bases må være en liste"))
    if len(bases) > CHUNK_SIZE:
        raise _document_error(
            "invoice_bases",
            "too_many_bases",
            _("Høyst %(limit)d fakturagrunnlag per forespørsel, ikke %(count)d")
            % {"limit": CHUNK_SIZE, "count": len(bases)},
        )
    source = f"api:{token.name}" if token is not None else ""
    return intake_bases(municipality, bases, actor=actor, source=source)


def intake_bases(
    municipality: Municipality,
    bases: list[Any],
    *,
    actor: Actor = None,
    source: str = "",
    index_offset: int = 0,
    earlier_references: Collection[str] = (),
) -> IntakeResult:
    """Validate and store `bases` (intake-format dicts) all-or-nothing, in one transaction.

    Raises IntakeRejected (400) listing every error, or IntakeConflict (409) naming each changed
    reference that is past *received*. `index_offset` and `earlier_references` are for a file
    imported in chunks: error indexes count from the start of the file, and a reference used in an
    earlier chunk is a duplicate.
    """
    if not isinstance(bases, list):
        raise _document_error("invoice_bases", "invalid_type", _("invoice_bases må være en liste"))
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _intake(municipality, bases, actor, source, index_offset, earlier_references)
        except IntegrityError:
            # A concurrent request stored one of our new references or parties first. Once it
            # has committed, a second pass sees those rows and answers unchanged/updated/409.
            if attempt == 2:
                raise
            logger.info("intake for %s retried after a concurrent insert", municipality.number)
    raise AssertionError("unreachable")


def _intake(
    municipality: Municipality,
    raw: list[Any],
    actor: Actor,
    source: str,
    index_offset: int,
    earlier_references: Collection[str],
) -> IntakeResult:
    catalogue = Catalogue.load(municipality)
    stored_originals = load_stored_originals(municipality, credited_references(raw))
    bases, issues = validate_bases(
        raw,
        catalogue,
        stored_originals=stored_originals,
        index_offset=index_offset,
        earlier_references=earlier_references,
    )
    if issues:
        raise IntakeRejected(issues)
    result = IntakeResult()
    if not bases:
        return result

    # Lock the bases we may replace, so an approval cannot slip in between compare and write.
    existing = {
        ref: (pk, status, digest, _Stored(*stored))
        for ref, pk, status, digest, *stored in InvoiceBasis.objects.select_for_update()
        .filter(municipality=municipality)
        .filter(among("source_reference", [b.source_reference for b in bases]))
        .order_by("pk")
        .values_list("source_reference", "pk", "status", "content_hash", *_Stored._fields)
    }
    new: list[BasisIn] = []
    changed: list[tuple[BasisIn, int]] = []
    conflicts: list[Issue] = []
    for basis in bases:
        found = existing.get(basis.source_reference)
        if found is None:
            new.append(basis)
        elif found[2] == basis.content_hash:
            result.unchanged += 1
        elif found[1] == BasisStatus.RECEIVED:
            changed.append((basis, found[0]))
        else:
            conflicts.append(
                Issue(
                    "changed_after_approval",
                    _(
                        "Grunnlaget er allerede %(status)s og kan ikke endres; "
                        "send rettelsen som kreditnota"
                    )
                    % {"status": BasisStatus(found[1]).label.lower()},
                    "source_reference",
                    basis.index,
                    basis.source_reference,
                )
            )
    if changed:
        conflicts.extend(_credited_changes(changed))
    if conflicts:
        raise IntakeConflict(conflicts)

    unit_ids, result.units_created = _ensure_units(municipality, bases)
    party_ids, result.parties_created, result.parties_updated = _ensure_parties(municipality, bases)

    ids_by_ref = {ref: original.id for ref, original in stored_originals.items()}
    ids_by_ref.update({ref: found[0] for ref, found in existing.items()})
    now = timezone.now()

    def row(basis: BasisIn) -> tuple[Any, ...]:
        return (
            municipality.pk,
            unit_ids[basis.unit_code],
            basis.period,
            party_ids[basis.payer.key],
            party_ids[basis.recipient.key],
            basis.source_reference,
            basis.kind,
            ids_by_ref[basis.credits] if basis.credits else None,
            BasisStatus.RECEIVED.value,
            basis.total_ore,
            len(basis.lines),
            basis.content_hash,
            now,
            now,
        )

    basis_ids: list[tuple[BasisIn, int]] = []

    def insert(batch: list[BasisIn]) -> None:
        ids = _insert_returning_ids(
            InvoiceBasis,
            _BASIS_COLUMNS,
            [row(b) for b in batch],
            [b.source_reference for b in batch],
            lambda refs: _basis_ids(municipality, refs),
        )
        for basis, pk in zip(batch, ids, strict=True):
            ids_by_ref[basis.source_reference] = pk
            basis_ids.append((basis, pk))

    # Invoices first: a credit may point at an invoice that arrives in the same request.
    insert([b for b in new if b.kind == BasisKind.INVOICE])
    touched: set[str] = set()  # months whose warnings must be computed again
    if changed:
        touched.update(_periods([pk for _b, pk in changed]))  # the months a correction leaves
        summaries.remove([pk for _b, pk in changed])
        _replace_bases([row(b) for b, _pk in changed])
        InvoiceLine.objects.filter(basis_id__in=[pk for _b, pk in changed]).delete()
        basis_ids.extend(changed)
    insert([b for b in new if b.kind == BasisKind.CREDIT])
    insert_rows(InvoiceLine, LINE_COLUMNS, _line_rows(basis_ids, catalogue))
    summaries.add([pk for _b, pk in basis_ids])
    anomalies.schedule_refresh(municipality.pk, touched | {b.period for b, _pk in basis_ids})

    result.created = len(new)
    result.updated = len(changed)
    result.updated_references = [b.source_reference for b, _pk in changed]
    event = audit(
        "invoice_basis.intake",
        actor=actor,
        municipality=municipality,
        bases=[pk for b, pk in basis_ids if b.source_reference not in existing],
        source=source,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        updated_references=result.updated_references,
    )
    if changed:
        before = {pk: existing[b.source_reference][3] for b, pk in changed}
        audit_each(
            "invoice_basis.corrected",
            actor=actor,
            municipality=municipality,
            bases=_corrections(changed, before, unit_ids, party_ids, event.pk, source),
        )
    return result


class _Stored(NamedTuple):
    """What a correction is compared with: the stored basis's head and sums."""

    period: str
    unit_id: int
    payer_id: int
    recipient_id: int
    kind: str
    total_ore: int
    line_count: int


def _corrections(
    changed: list[tuple[BasisIn, int]],
    before: dict[int, _Stored],
    unit_ids: dict[str, int],
    party_ids: dict[tuple[str, str], int],
    intake_event: int,
    source: str,
) -> list[tuple[int, dict[str, Any]]]:
    """What changed in each corrected basis, for its own audit event: the period, unit, kind
    and sums before and after, and whether the payer or recipient is another one. Never a
    national id: a party is named only as changed."""
    unit_codes = {pk: code for code, pk in unit_ids.items()}
    moved_from = {before[pk].unit_id for _b, pk in changed} - set(unit_codes)
    if moved_from:
        unit_codes.update(Unit.objects.filter(pk__in=moved_from).values_list("pk", "code"))
    out = []
    for basis, pk in changed:
        old = before[pk]
        was = {
            "period": old.period,
            "unit": unit_codes.get(old.unit_id, ""),
            "kind": old.kind,
            "total_ore": old.total_ore,
            "line_count": old.line_count,
        }
        now = {
            "period": basis.period,
            "unit": basis.unit_code,
            "kind": basis.kind,
            "total_ore": basis.total_ore,
            "line_count": len(basis.lines),
        }
        fields = [k for k in now if was[k] != now[k]]
        if old.payer_id != party_ids[basis.payer.key]:
            fields.append("payer")
        if old.recipient_id != party_ids[basis.recipient.key]:
            fields.append("recipient")
        out.append(
            (
                pk,
                {
                    "source_reference": basis.source_reference,
                    "source": source,
                    "intake_event": intake_event,
                    "changed": fields,
                    "before": was,
                    "after": now,
                },
            )
        )
    return out


def _credited_changes(changed: list[tuple[BasisIn, int]]) -> list[Issue]:
    """A received invoice that credit notes already point at keeps its payer and its kind: a
    credit note always corrects an invoice of the same payer."""
    credited = {
        pk: (kind, nid, org)
        for pk, kind, nid, org in InvoiceBasis.objects.filter(
            among("id", [pk for _b, pk in changed]), credit_notes__isnull=False
        )
        .distinct()
        .values_list("pk", "kind", "payer__national_id", "payer__org_number")
    }
    return [
        Issue(
            "has_credit_notes",
            _("Grunnlaget har kreditnotaer og kan ikke få ny betaler eller type"),
            "payer" if credited[pk][0] == basis.kind else "kind",
            basis.index,
            basis.source_reference,
        )
        for basis, pk in changed
        if pk in credited and credited[pk] != (basis.kind, *basis.payer.key)
    ]


# --- bulk writing --------------------------------------------------------------------------------

_BASIS_COLUMNS = (
    "municipality_id",
    "unit_id",
    "period",
    "payer_id",
    "recipient_id",
    "source_reference",
    "kind",
    "credits_id",
    "status",
    "total_ore",
    "line_count",
    "content_hash",
    "received_at",
    "updated_at",
)


def _line_rows(
    basis_ids: Iterable[tuple[BasisIn, int]], catalogue: Catalogue
) -> Iterator[tuple[Any, ...]]:
    services = catalogue.services
    dumps = json.dumps
    for basis, pk in basis_ids:
        for line in basis.lines:
            yield (
                pk,
                line.line_no,
                services[line.service_code].id,
                line.description,
                line.quantity,
                line.unit_price_ore,
                line.amount_ore,
                line.service_from,
                line.service_to,
                dumps(line.texts) if line.texts else "[]",
                dumps(line.dimensions) if line.dimensions else "{}",
            )


K = TypeVar("K", bound=Hashable)


def _insert_returning_ids(
    model: type[Model],
    attnames: Sequence[str],
    rows: list[tuple[Any, ...]],
    keys: list[K],
    lookup: Callable[[list[K]], dict[K, int]],
) -> list[int]:
    """Insert rows and return their new ids, in order, in a constant number of queries.

    PostgreSQL: ids are drawn from the table's own sequence first, so COPY can write them (unique
    and never reused, exactly as with a plain INSERT). Elsewhere one prepared insert for all rows
    and one read of the ids by the rows' natural `keys`.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [model._meta.db_table, model._meta.pk.column, len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
        insert_rows(model, ("id", *attnames), [(pk, *r) for pk, r in zip(ids, rows, strict=True)])
        return ids
    insert_rows(model, attnames, rows)
    found = lookup(keys)
    return [found[key] for key in keys]


def _basis_ids(municipality: Municipality, refs: list[str]) -> dict[str, int]:
    return dict(
        InvoiceBasis.objects.filter(
            municipality=municipality, source_reference__in=refs
        ).values_list("source_reference", "pk")
    )


def _periods(ids: list[int]) -> set[str]:
    return set(InvoiceBasis.objects.filter(among("id", ids)).values_list("period", flat=True))


def _replace_bases(rows: list[tuple[Any, ...]]) -> None:
    """Overwrite corrected bases in place (same pk, so their reference never changes)."""
    InvoiceBasis.objects.bulk_create(
        [InvoiceBasis(**dict(zip(_BASIS_COLUMNS, r, strict=True))) for r in rows],
        update_conflicts=True,
        unique_fields=["municipality", "source_reference"],
        update_fields=[
            "unit",
            "period",
            "payer",
            "recipient",
            "kind",
            "credits",
            "total_ore",
            "line_count",
            "content_hash",
            "updated_at",
        ],
    )


def _ensure_units(municipality: Municipality, bases: list[BasisIn]) -> tuple[dict[str, int], int]:
    """Units are created on first use; the latest name in the request wins."""
    wanted = {b.unit_code: b.unit_name for b in bases}
    known = {
        code: (pk, name)
        for pk, code, name in Unit.objects.filter(
            municipality=municipality, code__in=list(wanted)
        ).values_list("pk", "code", "name")
    }
    ids = {code: row[0] for code, row in known.items()}
    write = [
        Unit(municipality=municipality, code=code, name=name)
        for code, name in sorted(wanted.items())
        if code not in known or known[code][1] != name
    ]
    if write:
        Unit.objects.bulk_create(
            write,
            update_conflicts=True,
            unique_fields=["municipality", "code"],
            update_fields=["name"],
        )
        ids.update({unit.code: unit.pk for unit in write})
    return ids, sum(1 for unit in write if unit.code not in known)


_PARTY_VALUES = ("name", "address1", "address2", "postcode", "place")
_PARTY_COLUMNS = ("municipality_id", "national_id", "org_number", *_PARTY_VALUES, "customer_number")


def _ensure_parties(
    municipality: Municipality, bases: list[BasisIn]
) -> tuple[dict[tuple[str, str], int], int, int]:
    """One party per identifier; name and address kept current from the latest basis.

    A payer object carries the whole address; a recipient object without one only updates the
    name, so an address known from elsewhere survives.
    """
    wanted: dict[tuple[str, str], PartyIn] = {}
    for basis in bases:
        for party in (basis.recipient, basis.payer):
            current = wanted.get(party.key)
            if current is None or party.has_address:
                wanted[party.key] = party
            elif current.name != party.name:
                wanted[party.key] = replace(current, name=party.name)

    known = _known_parties(municipality, list(wanted))

    ids = {key: row[0] for key, row in known.items()}
    new_keys: list[tuple[str, str]] = []
    new_rows: list[tuple[Any, ...]] = []
    changed: list[Party] = []
    for key in sorted(wanted):
        party = wanted[key]
        row = known.get(key)
        values = (party.name, party.address1, party.address2, party.postcode, party.place)
        if row is None:
            new_keys.append(key)
            new_rows.append((municipality.pk, *key, *values, ""))
            continue
        if not party.has_address:
            values = (party.name, *row[2:])
        if tuple(row[1:]) != values:
            changed.append(
                Party(
                    municipality=municipality,
                    national_id=key[0],
                    org_number=key[1],
                    **dict(zip(_PARTY_VALUES, values, strict=True)),
                )
            )
    new_ids = _insert_returning_ids(
        Party,
        _PARTY_COLUMNS,
        new_rows,
        new_keys,
        lambda keys: {key: row[0] for key, row in _known_parties(municipality, keys).items()},
    )
    ids.update(zip(new_keys, new_ids, strict=True))
    if changed:
        Party.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["municipality", "national_id", "org_number"],
            update_fields=list(_PARTY_VALUES),
        )
    return ids, len(new_rows), len(changed)


def _known_parties(
    municipality: Municipality, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Any, ...]]:
    """(national_id, org_number) → (pk, name, address1, address2, postcode, place)."""
    nids = [key[0] for key in keys if key[0]]
    orgs = [key[1] for key in keys if key[1]]
    rows = Party.objects.filter(municipality=municipality).filter(
        among("national_id", nids) | (Q(national_id="") & among("org_number", orgs))
    )
    return {
        (nid, org): (pk, *values)
        for pk, nid, org, *values in rows.values_list(
            "pk", "national_id", "org_number", *_PARTY_VALUES
        )
    }
