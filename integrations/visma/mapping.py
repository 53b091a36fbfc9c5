"""Invoice bases (models) → `SoapBasis` (the adapter's input), and the checks Visma would fail.

Reads a batch with a fixed number of queries (bases with payer, their lines, the catalogue and
the municipality's kontering order once), so a 200-basis call costs the same few queries as one.

Decisions the contract leaves to us:
- `oppdragsgiver` is per basis in the web service but per service in the catalogue. Each line's
  service gives it (or the municipality's default in its accounting settings). A basis whose lines
  belong to more than one oppdragsgiver is not sent: it is rejected locally with a message that
  names them, since splitting it would break "one basis = one invoice = one referanse".
- Names and addresses are cut to Visma's widths (navn/adresse 40, poststed 30), as the file route
  does; texts are wrapped at word boundaries into 50-character `tekst` lines, never cut.
- Kontering KB01–KB10 follows the accounting settings' KB slot mapping, as the import file does (a
  blank slot is left out, so Visma uses the vare's default). Without accounting settings, the
  municipality's dimensions in their order (first dimension → KB01).
- Anything Visma would reject for certain (missing postcode, vare, oppdragsgiver, a bad customer
  number, an amount that is not quantity × price) is reported before any call is made.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.db import fetch_rows
from invoices.amounts import amount_for_quantity
from invoices.models import (
    KB_SLOTS,
    LINE_COLUMNS,
    AccountingSettings,
    DimensionDefinition,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Service,
    basis_reference,
)

from .types import Melding, SoapBasis, SoapLine

NAME_WIDTH = 40
ADDRESS_WIDTH = 40
PLACE_WIDTH = 30
TEXT_WIDTH = 50
MAX_TEXTS = 99
MAX_LINES = 99
KB_WIDTH = 12

_DIGITS = {n: re.compile(rf"[0-9]{{{n}}}") for n in (3, 4, 9, 11)}


@dataclass(frozen=True)
class MappingContext:
    """What every basis of one municipality is mapped with."""

    default_oppdragsgiver: str = ""
    # KB slot (1..10) → dimension key.
    kb_slots: Mapping[int, str] = field(default_factory=dict)
    # service pk → (oppdragsgiver, vare, vat code, default dimensions)
    services: Mapping[int, tuple[str, str, str, Mapping[str, Any]]] = field(default_factory=dict)
    # A month repeats the same texts and kontering overrides on thousands of lines: what they
    # map to is worked out once per distinct value (per worker run, bounded) and shared.
    _services: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)
    _texts: dict[Any, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _kontering: dict[Any, tuple[dict[int, str], tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True)
class Rejected:
    """A basis that cannot be sent as it is, with Visma-style messages."""

    referanse: str
    meldinger: tuple[Melding, ...]


def context_for(municipality: Municipality) -> MappingContext:
    settings = AccountingSettings.objects.filter(municipality=municipality).first()
    if settings is not None:
        # The accounting settings decide, as they do for the file: a blank slot is left out, so
        # Visma uses the vare's default, exactly as in the import file.
        default_og, slots = settings.default_oppdragsgiver, settings.kb_slot_map
    else:
        keys = DimensionDefinition.objects.filter(municipality=municipality).order_by(
            "position", "key"
        )
        default_og = ""
        slots = dict(enumerate(keys.values_list("key", flat=True)[:KB_SLOTS], start=1))
    services = {
        pk: (og, vare, vat, dims or {})
        for pk, og, vare, vat, dims in Service.objects.filter(
            municipality=municipality
        ).values_list("pk", "visma_oppdragsgiver", "visma_vare", "vat_code", "default_dimensions")
    }
    return MappingContext(default_oppdragsgiver=default_og, kb_slots=slots, services=services)


_BASIS_COLUMNS = (
    "pk",
    "period",
    "credits_id",
    "municipality__number",
    "payer__national_id",
    "payer__org_number",
    "payer__name",
    "payer__address1",
    "payer__address2",
    "payer__postcode",
    "payer__place",
)


def load(basis_ids: Sequence[int], context: MappingContext) -> dict[int, SoapBasis | Rejected]:
    """Map the given bases (of one municipality); missing ids are simply absent from the result."""
    rows = fetch_rows(InvoiceBasis.objects.filter(pk__in=basis_ids).values_list(*_BASIS_COLUMNS))
    credits_ids = {r[2] for r in rows if r[2]}
    credit_refs = (
        dict(
            InvoiceBasis.objects.filter(pk__in=credits_ids).values_list(
                "pk", "municipality__number"
            )
        )
        if credits_ids
        else {}
    )
    lines: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for line in fetch_rows(
        InvoiceLine.objects.filter(basis_id__in=basis_ids)
        .order_by("basis_id", "line_no")
        .values_list(*LINE_COLUMNS)
    ):
        lines[line[0]].append(line)
    out: dict[int, SoapBasis | Rejected] = {}
    for row in rows:
        pk, period, credits_id, number = row[0], row[1], row[2], row[3]
        credits_ref = basis_reference(credit_refs[credits_id], credits_id) if credits_id else ""
        out[pk] = to_soap(
            referanse=basis_reference(number, pk),
            period=period,
            credits_reference=credits_ref,
            payer=row[4:],
            lines=lines.get(pk, []),
            context=context,
        )
    return out


def to_soap(
    *,
    referanse: str,
    period: str,
    credits_reference: str,
    payer: Sequence[str],
    lines: Iterable[Sequence[Any]],
    context: MappingContext,
) -> SoapBasis | Rejected:
    problems: list[Melding] = []
    national_id, org_number, name, address1, address2, postcode, place = payer
    kundenr = national_id or org_number
    if not (
        (len(kundenr) == 11 and _DIGITS[11].fullmatch(kundenr))
        or (len(kundenr) == 9 and _DIGITS[9].fullmatch(kundenr))
    ):
        problems.append(
            Melding("UGYLDIG_KUNDENR", "Betaleren mangler gyldig kundenummer", "kunde.kundenr")
        )
    navn = _one_line(name)[:NAME_WIDTH].strip()
    if not navn:
        problems.append(Melding("MANGLER_NAVN", "Betaleren mangler navn", "kunde.navn"))
    if not _DIGITS[4].fullmatch(postcode or ""):
        problems.append(
            Melding("MANGLER_POSTNR", "Betaleren mangler gyldig postnummer", "kunde.postnr")
        )

    soap_lines: list[SoapLine] = []
    oppdragsgivere: set[str] = set()
    line_rows = list(lines)
    if not line_rows:
        problems.append(Melding("INGEN_LINJER", "Grunnlaget har ingen linjer", "linje"))
    if len(line_rows) > MAX_LINES:
        problems.append(Melding("FOR_MANGE_LINJER", "Mer enn 99 linjer", "linje"))
    for index, line in enumerate(line_rows, start=1):
        mapped = _line(index, line, context, problems)
        if mapped is not None:
            soap_line, oppdragsgiver = mapped
            soap_lines.append(soap_line)
            if oppdragsgiver:
                oppdragsgivere.add(oppdragsgiver)
    if len(oppdragsgivere) > 1:
        problems.append(
            Melding(
                "FLERE_OPPDRAGSGIVERE",
                "Linjene hører til flere oppdragsgivere ("
                + ", ".join(sorted(oppdragsgivere))
                + "); ett grunnlag kan bare ha én oppdragsgiver i Visma",
                "oppdragsgiver",
            )
        )
    if problems:
        return Rejected(referanse, tuple(problems))
    return SoapBasis(
        referanse=referanse,
        periode=period,
        kundenr=kundenr,
        navn=navn,
        oppdragsgiver=oppdragsgivere.pop(),
        linjer=tuple(soap_lines),
        kreditnota_for=credits_reference,
        adresse1=_one_line(address1)[:ADDRESS_WIDTH].strip(),
        adresse2=_one_line(address2)[:ADDRESS_WIDTH].strip(),
        postnr=postcode,
        poststed=_one_line(place)[:PLACE_WIDTH].strip(),
    )


def _line(
    index: int, line: Sequence[Any], context: MappingContext, problems: list[Melding]
) -> tuple[SoapLine, str] | None:
    _, _, service_id, description, quantity, price, amount, _from, _to, texts, dimensions = line
    where = f"linje[{index}]"
    facts = context._services.get(service_id)
    if facts is None:
        facts = context._services[service_id] = _service_facts(context, service_id)
    if facts is _UNKNOWN_SERVICE:
        problems.append(Melding("UKJENT_TJENESTE", "Tjenesten finnes ikke", f"{where}.varenr"))
        return None
    oppdragsgiver, vare, mvakode, service_dims, missing = facts
    ok = not missing
    for kode, tekst, felt in missing:
        problems.append(Melding(kode, tekst, f"{where}.varenr" if felt == "varenr" else felt))
    if not isinstance(quantity, Decimal):
        quantity = Decimal(quantity)
    if amount_for_quantity(quantity, price) != amount:
        problems.append(
            Melding("BELOP_STEMMER_IKKE", "Beløpet er ikke antall × pris", f"{where}.belop")
        )
        ok = False
    kontering, too_long = _kontering(context, service_id, service_dims, dimensions)
    for key in too_long:
        problems.append(
            Melding(
                "FOR_LANG_KONTERING",
                f"Konteringsverdien for {key} er lengre enn {KB_WIDTH} tegn",
                f"{where}.kontering",
            )
        )
        ok = False
    tekster = _line_texts(context, texts, description)
    if len(tekster) > MAX_TEXTS:
        problems.append(
            Melding("FOR_MANGE_TEKSTER", "Mer enn 99 tekstlinjer på linjen", f"{where}.tekst")
        )
        ok = False
    if not ok:
        return None
    return (
        SoapLine(
            varenr=vare,
            antall=quantity,
            pris=int(price),
            belop=int(amount),
            mvakode=mvakode,
            kontering=kontering,
            tekster=tekster,
        ),
        oppdragsgiver,
    )


_CACHE_LIMIT = 4096
_UNKNOWN_SERVICE: Any = ()


def _service_facts(context: MappingContext, service_id: int) -> Any:
    """(oppdragsgiver, vare, mvakode, default dimensions, what is missing) of a service."""
    service = context.services.get(service_id)
    if service is None:
        return _UNKNOWN_SERVICE
    oppdragsgiver, vare, vat_code, service_dims = service
    oppdragsgiver = oppdragsgiver or context.default_oppdragsgiver
    missing = []
    if not _DIGITS[3].fullmatch(oppdragsgiver or ""):
        missing.append(
            (
                "MANGLER_OPPDRAGSGIVER",
                "Tjenesten har ingen Visma-oppdragsgiver, og kommunen har ingen standard",
                "oppdragsgiver",
            )
        )
    if not _DIGITS[4].fullmatch(vare or ""):
        missing.append(("MANGLER_VARE", "Tjenesten mangler Visma-varenummer", "varenr"))
    return (oppdragsgiver, vare, (vat_code or "")[:3], service_dims, tuple(missing))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _kontering(
    context: MappingContext, service_id: int, service_dims: Mapping[str, Any], dimensions: Any
) -> tuple[dict[int, str], tuple[str, ...]]:
    """KB slot → value for a line, and the keys whose value is too long. The result is shared
    between lines with the same service and override, so nobody may change it."""
    key = (service_id, dimensions) if isinstance(dimensions, str | None) else None
    known = context._kontering.get(key) if key is not None else None
    if known is not None:
        return known
    merged = {**(service_dims or {}), **(_json(dimensions) or {})}
    kontering: dict[int, str] = {}
    too_long: list[str] = []
    for slot, name in context.kb_slots.items():
        value = merged.get(name)
        if value in (None, ""):
            continue
        value = str(value)
        if len(value) > KB_WIDTH:
            too_long.append(name)
        kontering[slot] = value
    result = (kontering, tuple(too_long))
    if key is not None:
        if len(context._kontering) >= _CACHE_LIMIT:
            context._kontering.clear()
        context._kontering[key] = result
    return result


def _line_texts(context: MappingContext, texts: Any, description: str) -> tuple[str, ...]:
    key = (texts, description) if isinstance(texts, str | None) else None
    known = context._texts.get(key) if key is not None else None
    if known is not None:
        return known
    decoded = _json(texts)
    result = tuple(_texts(decoded or ([description] if description else [])))
    if key is not None:
        if len(context._texts) >= _CACHE_LIMIT:
            context._texts.clear()
        context._texts[key] = result
    return result


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


def _texts(texts: Iterable[str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        line = _one_line(str(text))
        if len(line) <= TEXT_WIDTH:  # nearly every text: no need to wrap
            if line:
                out.append(line)
        else:
            out.extend(textwrap.wrap(line, TEXT_WIDTH))
    return out
