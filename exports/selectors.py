"""Reading invoice bases for the format writers, chunk by chunk, with a fixed number of queries.

Per chunk: one query for the bases (joined with unit, payer and recipient) and one for their lines.
The service catalogue is read once per run. Nothing here instantiates models, so memory stays flat
however large the month is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.db.models import Count, QuerySet, Sum, TextField
from django.db.models.functions import Cast

from invoices.models import BasisStatus, InvoiceBasis, InvoiceLine, Municipality, Service

from .formats.types import Basis, Customer, Line

DEFAULT_CHUNK = 1000

_BASIS_COLUMNS = (
    "pk",
    "payer_id",
    "recipient_id",
    "source_reference",
    "period",
    "kind",
    "credits_id",
    "total_ore",
    "content_hash",
    "status",
    "approved_at",
    "unit__code",
    "unit__name",
    *(f"payer__{f}" for f in ("national_id", "org_number", "name", "address1", "address2")),
    *(f"payer__{f}" for f in ("postcode", "place", "customer_number")),
    *(f"recipient__{f}" for f in ("national_id", "org_number", "name", "address1", "address2")),
    *(f"recipient__{f}" for f in ("postcode", "place", "customer_number")),
)
_LINE_COLUMNS = (
    "basis_id",
    "line_no",
    "service_id",
    "description",
    "quantity",
    "unit_price_ore",
    "amount_ore",
    "service_from",
    "service_to",
    "texts_json",
    "dimensions_json",
)
# JSON columns are read as text and decoded here: the C scanner alone, without the per-value
# converter layers, is most of what makes a 100 000-line month cheap to read.
_LINE_JSON = {
    "texts_json": Cast("texts", TextField()),
    "dimensions_json": Cast("dimensions", TextField()),
}
_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return _scan_json(text, 0)[0]
    except StopIteration:  # leading whitespace: the full decoder handles it
        return json.loads(text)


@dataclass(frozen=True)
class Selection:
    """Which bases an export covers: a period, optionally one unit, optionally explicit ids.

    With `export_id`, exactly the bases recorded on that export (whatever their status now): the
    set a run validated is the set it writes, even if more bases are approved meanwhile.
    """

    municipality: Municipality
    period: str
    unit_id: int | None = None
    basis_ids: Sequence[int] | None = None
    statuses: tuple[str, ...] = (BasisStatus.APPROVED,)
    include_zero_amount: bool = True
    export_id: int | None = None

    def queryset(self) -> QuerySet[InvoiceBasis]:
        if self.export_id is not None:
            return InvoiceBasis.objects.filter(
                municipality=self.municipality, export_items__export_id=self.export_id
            )
        qs = InvoiceBasis.objects.filter(
            municipality=self.municipality, period=self.period, status__in=self.statuses
        )
        if self.unit_id is not None:
            qs = qs.filter(unit_id=self.unit_id)
        if self.basis_ids is not None:
            qs = qs.filter(pk__in=list(self.basis_ids))
        if not self.include_zero_amount:
            qs = qs.exclude(total_ore=0)
        return qs


@dataclass(frozen=True)
class BasisState:
    """What the export records about each basis, to detect a change before it locks them."""

    pk: int
    total_ore: int
    content_hash: str
    status: str
    approved_at: Any


@dataclass(frozen=True)
class Chunk:
    bases: list[Basis]
    states: list[BasisState]
    # Lines whose sum differs from the basis's stored total: never written as they are.
    mismatched: list[int]


def selection_totals(selection: Selection) -> dict[str, int]:
    """How many bases the selection holds and their sum, for the button and the export record."""
    row = selection.queryset().aggregate(count=Count("pk"), total=Sum("total_ore"))
    return {"count": row["count"] or 0, "total_ore": row["total"] or 0}


_ServiceRow = tuple[str, str, str, str, str, Mapping[str, str]]


def _service_map(municipality: Municipality) -> dict[int, _ServiceRow]:
    return {
        pk: (code, visma_og, visma_vare, article, vat, _overlay({}, dims))
        for pk, code, visma_og, visma_vare, article, vat, dims in Service.objects.filter(
            municipality=municipality
        ).values_list(
            "pk",
            "code",
            "visma_oppdragsgiver",
            "visma_vare",
            "agresso_article",
            "vat_code",
            "default_dimensions",
        )
    }


def _customer(row: Sequence[Any], at: int) -> Customer:
    national_id, org_number, name, address1, address2, postcode, place, number = row[at : at + 8]
    return Customer(
        identifier=national_id or org_number,
        is_organisation=bool(org_number),
        name=name,
        address1=address1,
        address2=address2,
        postcode=postcode,
        place=place,
        customer_number=number,
    )


def _overlay(defaults: Mapping[str, str], own: Mapping[str, Any] | None) -> Mapping[str, str]:
    """The service's default kontering overlaid with the line's own; an explicit empty value
    clears a default. Lines without their own share the service's read-only mapping."""
    if not own:
        return defaults
    merged = dict(defaults)
    for key, value in own.items():
        if value is None or value == "":
            merged.pop(str(key), None)
        else:
            merged[str(key)] = value if type(value) is str else str(value)
    return MappingProxyType(merged)


def iter_chunks(selection: Selection, *, chunk_size: int = DEFAULT_CHUNK) -> Iterator[Chunk]:
    """Yield the selection's bases in primary-key order, `chunk_size` at a time.

    Keyset pagination (pk > last) rather than one long cursor: every chunk is a short query, so a
    slow writer never holds a transaction or a server-side cursor open.
    """
    number = selection.municipality.number
    services = _service_map(selection.municipality)
    base_qs = selection.queryset().order_by("pk")
    last_pk = 0
    while True:
        rows = list(base_qs.filter(pk__gt=last_pk).values_list(*_BASIS_COLUMNS)[:chunk_size])
        if not rows:
            return
        first_pk, last_pk = rows[0][0], rows[-1][0]
        lines_by_basis: dict[int, list[Line]] = {r[0]: [] for r in rows}
        # The chunk's lines by key range and the selection as a sub-select (no list of ids to
        # send); a line of a basis that left or joined the selection in between is skipped.
        chunk_bases = base_qs.filter(pk__gte=first_pk, pk__lte=last_pk).values("pk")
        for lr in (
            InvoiceLine.objects.filter(
                basis_id__gte=first_pk, basis_id__lte=last_pk, basis_id__in=chunk_bases
            )
            .annotate(**_LINE_JSON)
            .order_by("basis_id", "line_no")
            .values_list(*_LINE_COLUMNS)
        ):
            basis_id, line_no, service_id, description, quantity, price, amount = lr[:7]
            service_from, service_to, texts, dims = lr[7:]
            basis_lines = lines_by_basis.get(basis_id)
            if basis_lines is None:
                continue
            code, oppdragsgiver, vare, article, vat, default_dims = services[service_id]
            texts = _json(texts)
            basis_lines.append(
                Line(
                    line_no=line_no,
                    service_code=code,
                    description=description,
                    quantity=quantity,
                    unit_price_ore=price,
                    amount_ore=amount,
                    visma_oppdragsgiver=oppdragsgiver,
                    visma_vare=vare,
                    agresso_article=article,
                    vat_code=vat,
                    service_from=service_from,
                    service_to=service_to,
                    texts=tuple(texts or ()),
                    dimensions=_overlay(default_dims, _json(dims)),
                )
            )
        bases: list[Basis] = []
        states: list[BasisState] = []
        mismatched: list[int] = []
        for r in rows:
            pk, payer_id, recipient_id, source_ref, period, kind, credits_id = r[:7]
            total, content_hash, status, approved_at, unit_code, unit_name = r[7:13]
            lines = tuple(lines_by_basis[pk])
            if sum(line.amount_ore for line in lines) != total:
                mismatched.append(pk)
            payer = _customer(r, 13)
            bases.append(
                Basis(
                    pk=pk,
                    reference=f"{number}-{pk:09d}",
                    source_reference=source_ref,
                    period=period,
                    kind=kind,
                    payer=payer,
                    recipient=payer if recipient_id == payer_id else _customer(r, 21),
                    unit_code=unit_code,
                    unit_name=unit_name,
                    lines=lines,
                    credits_reference=f"{number}-{credits_id:09d}" if credits_id else "",
                )
            )
            states.append(BasisState(pk, total, content_hash, status, approved_at))
        yield Chunk(bases, states, mismatched)
        if len(rows) < chunk_size:
            return


def iter_bases(selection: Selection, *, chunk_size: int = DEFAULT_CHUNK) -> Iterator[Basis]:
    for chunk in iter_chunks(selection, chunk_size=chunk_size):
        yield from chunk.bases


def exports_of_basis(basis: InvoiceBasis) -> QuerySet[Any]:
    """The exports a basis was part of, newest first (for the basis page)."""
    from .models import ExportItem

    return (
        ExportItem.objects.filter(basis=basis, export__municipality_id=basis.municipality_id)
        .select_related("export", "export__created_by")
        .order_by("-export__created_at", "-export_id")
    )
