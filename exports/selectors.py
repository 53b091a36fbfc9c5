"""Reading invoice bases for the format writers, chunk by chunk, with a fixed number of queries.

Per chunk: one query for the bases (joined with unit, payer and recipient) and one for their lines.
The service catalogue is read once per run. Nothing here instantiates models, so memory stays flat
however large the month is.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.db.models import F, QuerySet, Sum, TextField
from django.db.models.functions import Cast, Coalesce

from core.db import among, fetch_rows
from invoices.models import (
    LINE_COLUMNS,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Service,
    basis_reference,
)

from .formats.types import Basis, Customer, Line
from .models import ExportItem

DEFAULT_CHUNK = 1000

_BASIS_COLUMNS = (
    "pk",
    "payer_id",
    "recipient_id",
    "source_reference",
    "period",
    "kind",
    "credits_id",
    "unit__code",
    "unit__name",
    *(f"payer__{f}" for f in ("national_id", "org_number", "name", "address1", "address2")),
    *(f"payer__{f}" for f in ("postcode", "place", "customer_number")),
    *(f"recipient__{f}" for f in ("national_id", "org_number", "name", "address1", "address2")),
    *(f"recipient__{f}" for f in ("postcode", "place", "customer_number")),
)
_LINE_COLUMNS = tuple(f"{c}_json" if c in ("texts", "dimensions") else c for c in LINE_COLUMNS)
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
    service_id: int | None = None
    basis_ids: Sequence[int] | None = None
    statuses: tuple[str, ...] = (BasisStatus.APPROVED,)
    include_zero_amount: bool = True
    export_id: int | None = None

    def queryset(self) -> QuerySet[InvoiceBasis]:
        if self.export_id is not None:
            qs = InvoiceBasis.objects.filter(
                municipality=self.municipality, export_items__export_id=self.export_id
            )
            # With ids too: those of the recorded bases (e.g. the ones a check must look at).
            return qs if self.basis_ids is None else qs.filter(among("pk", self.basis_ids))
        qs = InvoiceBasis.objects.filter(
            municipality=self.municipality, period=self.period, status__in=self.statuses
        )
        if self.unit_id is not None:
            qs = qs.filter(unit_id=self.unit_id)
        if self.service_id is not None:
            qs = qs.filter(
                pk__in=InvoiceLine.objects.filter(service_id=self.service_id).values("basis_id")
            )
        if self.basis_ids is not None:
            qs = qs.filter(among("pk", self.basis_ids))
        if not self.include_zero_amount:
            qs = qs.exclude(total_ore=0)
        return qs


@dataclass(frozen=True)
class Chunk:
    bases: list[Basis]


def mismatched_totals(selection: Selection) -> list[int]:
    """The bases whose lines do not add up to their stored total, summed by the database."""
    return list(
        selection.queryset()
        .order_by("pk")
        .annotate(line_sum=Coalesce(Sum("lines__amount_ore"), 0))
        .exclude(total_ore=F("line_sum"))
        .values_list("pk", flat=True)
    )


_ServiceRow = tuple[str, str, str, str, str, Mapping[str, str]]


def service_catalogue(municipality: Municipality) -> dict[int, _ServiceRow]:
    """Per service id: code, Visma oppdragsgiver and vare, Agresso article, VAT code and its
    default kontering, as every line of that service gets them."""
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


class _Decoded:
    """JSON column text → value, remembered: a month repeats the same texts and overrides on
    thousands of lines, so each distinct text is scanned once and its lines share one value.
    Bounded, so memory stays flat however varied the month is. The hot loop reads `texts` and
    `dimensions` directly and calls the methods only on a miss."""

    __slots__ = ("_size", "dimensions", "texts")
    LIMIT = 4096

    def __init__(self) -> None:
        self.texts: dict[str | None, tuple[str, ...]] = {None: (), "[]": ()}
        # Per service (its id): raw override text → the overlaid mapping.
        self.dimensions: dict[int, dict[str | None, Mapping[str, str]]] = {}
        self._size = 0

    def service(self, service_id: int, defaults: Mapping[str, str]) -> dict[Any, Any]:
        known = self.dimensions.get(service_id)
        if known is None:
            known = self.dimensions[service_id] = {None: defaults, "{}": defaults}
        return known

    def new_texts(self, text: str) -> tuple[str, ...]:
        value = tuple(_json(text) or ())
        self._count()
        self.texts[text] = value
        return value

    def new_dimensions(
        self, known: dict[Any, Any], defaults: Mapping[str, str], text: str
    ) -> Mapping[str, str]:
        value = _overlay(defaults, _json(text))
        self._count()
        known[text] = value
        return value

    def _count(self) -> None:
        self._size += 1
        if self._size > self.LIMIT:
            self._size = 0
            self.texts = {None: (), "[]": ()}
            self.dimensions = {}


@contextlib.contextmanager
def _without_cycle_collector() -> Iterator[None]:
    """Pause the cyclic garbage collector while a chunk's rows become bases.

    A chunk allocates tens of thousands of tuples, and every 700 allocations the collector
    walks the young ones (and now and then everything alive) looking for cycles that rows and
    bases never form: about a quarter of the time of reading a month. It is paused only while
    this module builds a chunk and resumed before the chunk is handed on, so no caller's code
    runs without it. Reference counting frees everything as usual in between.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_new_tuple = tuple.__new__


class _ChunkReader:
    """Reads a selection chunk by chunk and turns the rows into bases. Holds what the chunks of a
    run share: the service catalogue and the decoded JSON values."""

    def __init__(self, selection: Selection) -> None:
        self.number = selection.municipality.number
        self.services = service_catalogue(selection.municipality)
        self.decoded = _Decoded()
        self.base_qs = selection.queryset().order_by("pk")

    def build(self, rows: list[tuple[Any, ...]], line_rows: list[tuple[Any, ...]]) -> Chunk:
        """The chunk's bases from its basis rows and line rows."""
        with _without_cycle_collector():
            lines = self._lines(line_rows, {r[0]: [] for r in rows})
            return self._bases(rows, lines)

    def chunk_rows(
        self, size: int
    ) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(basis rows, their line rows) for `size` bases at a time, in primary-key order.

        Keyset pagination (pk > last) rather than one long cursor: every chunk is a short query,
        so a slow writer never holds a transaction or a server-side cursor open."""
        last_pk = 0
        while True:
            with _without_cycle_collector():
                rows = self.basis_rows(last_pk, size)
                if not rows:
                    return
                line_rows = self.line_rows(rows[0][0], rows[-1][0])
            yield rows, line_rows
            if len(rows) < size:
                return
            last_pk = rows[-1][0]

    def basis_rows(self, after_pk: int, size: int) -> list[tuple[Any, ...]]:
        """The raw rows of up to `size` bases after `after_pk` (`_BASIS_COLUMNS`)."""
        return fetch_rows(self.base_qs.filter(pk__gt=after_pk).values_list(*_BASIS_COLUMNS)[:size])

    def line_rows(self, first_pk: int, last_pk: int) -> list[tuple[Any, ...]]:
        """The raw rows of the lines of the selection's bases in [first_pk, last_pk].

        By key range and the selection as a sub-select (no list of ids to send); a line of a
        basis that left or joined the selection in between is skipped by `_lines`."""
        chunk_bases = self.base_qs.filter(pk__gte=first_pk, pk__lte=last_pk).values("pk")
        return fetch_rows(
            InvoiceLine.objects.filter(
                basis_id__gte=first_pk, basis_id__lte=last_pk, basis_id__in=chunk_bases
            )
            .annotate(**_LINE_JSON)
            .order_by("basis_id", "line_no")
            .values_list(*_LINE_COLUMNS)
        )

    def _lines(
        self, rows: list[tuple[Any, ...]], lines_by_basis: dict[int, list[Line]]
    ) -> dict[int, list[Line]]:
        services, decoded = self.services, self.decoded
        get_lines = lines_by_basis.get
        texts_known, dimensions_known = decoded.texts, decoded.dimensions
        # Runs once per line of the month: cache hits are read inline, misses call out.
        for lr in rows:
            basis_lines = get_lines(lr[0])
            if basis_lines is None:
                continue
            service_id, texts, dimensions = lr[2], lr[9], lr[10]
            code, oppdragsgiver, vare, article, vat, default_dims = services[service_id]
            known_texts = texts_known.get(texts)
            if known_texts is None:
                known_texts = decoded.new_texts(texts)
                texts_known = decoded.texts
            per_service = dimensions_known.get(service_id)
            if per_service is None:
                per_service = decoded.service(service_id, default_dims)
                dimensions_known = decoded.dimensions
            known_dims = per_service.get(dimensions)
            if known_dims is None:
                known_dims = decoded.new_dimensions(per_service, default_dims, dimensions)
                dimensions_known = decoded.dimensions
            # tuple.__new__ is Line(...) without the Python-level call.
            basis_lines.append(
                _new_tuple(
                    Line,
                    (
                        lr[1],
                        code,
                        lr[3],
                        lr[4],
                        lr[5],
                        lr[6],
                        oppdragsgiver,
                        vare,
                        article,
                        vat,
                        lr[7],
                        lr[8],
                        known_texts,
                        known_dims,
                    ),
                )
            )
        return lines_by_basis

    def _bases(self, rows: list[tuple[Any, ...]], lines: dict[int, list[Line]]) -> Chunk:
        number = self.number
        bases: list[Basis] = []
        customers: dict[int, Customer] = {}
        for r in rows:
            pk, payer_id, recipient_id, source_ref, period, kind, credits_id = r[:7]
            unit_code, unit_name = r[7:9]
            payer = customers.get(payer_id)
            if payer is None:
                payer = customers[payer_id] = _customer(r, 9)
            recipient = customers.get(recipient_id)
            if recipient is None:
                recipient = customers[recipient_id] = _customer(r, 17)
            bases.append(
                Basis(
                    pk=pk,
                    reference=basis_reference(number, pk),
                    source_reference=source_ref,
                    period=period,
                    kind=kind,
                    payer=payer,
                    recipient=recipient,
                    unit_code=unit_code,
                    unit_name=unit_name,
                    lines=tuple(lines[pk]),
                    credits_reference=basis_reference(number, credits_id) if credits_id else "",
                )
            )
        return Chunk(bases)


def iter_rows(
    selection: Selection, *, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """The raw rows of the selection, chunk by chunk: (basis rows, their line rows), exactly as
    `iter_chunks` reads them. On their own, what reading a month costs before any object of the
    export's own is made (B1 prints it)."""
    yield from _ChunkReader(selection).chunk_rows(chunk_size)


def iter_chunks(selection: Selection, *, chunk_size: int = DEFAULT_CHUNK) -> Iterator[Chunk]:
    """Yield the selection's bases in primary-key order, `chunk_size` at a time."""
    reader = _ChunkReader(selection)
    for rows, line_rows in reader.chunk_rows(chunk_size):
        yield reader.build(rows, line_rows)


def iter_bases(selection: Selection, *, chunk_size: int = DEFAULT_CHUNK) -> Iterator[Basis]:
    for chunk in iter_chunks(selection, chunk_size=chunk_size):
        yield from chunk.bases


def search_bases(municipality: Municipality, term: str) -> QuerySet[Any]:
    """The bases an Agresso file gave this order number (the list's search)."""
    if not (term.isdigit() and len(term) <= 15):
        return ExportItem.objects.none().values("basis_id")
    return ExportItem.objects.filter(export__municipality=municipality, order_id=int(term)).values(
        "basis_id"
    )
