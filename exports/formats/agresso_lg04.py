"""Agresso / Unit4 (UBW) order import LG04: one sales order (trans_type 42) per invoice basis.

Classic (1905 bytes) and wide (4324 bytes) come from the same code through their layouts in
`exports/layouts/agresso_lg04.csv`. Per order: a header line, then per invoice line an item line
followed by its text lines. Choices the vendor text leaves open:

- The header carries order_date, confirm_date and deliv_date = `options.order_date`, currency NOK,
  status N, the header text (`long_info1`), and in `ext_ord_ref` the basis's stable reference
  (printed as "Deres ref."). `long_info2` carries the recipient's name when someone else pays.
- Item lines: article, art_descr = line description (cut with a warning), amount (leading minus for
  credits), amount_set 1, value_1 = quantity × 100, dim_1..dim_7, tax_code, period, status N.
- Text lines: the line's texts, wrapped at word boundaries into `short_info` (60).
- Fields the product does not fill are blank, whatever their kind.
- Settings that do not fit their field in the chosen layout raise ValueError when the options are
  made; required settings left empty (client, voucher type, order type, batch id) are reported by
  `validate()` as `missing_setting`.
"""

from __future__ import annotations

import datetime
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, BinaryIO, Literal

from exports.formats import checks
from exports.formats.checks import error
from exports.formats.encoding import SUPPORTED_ENCODINGS, Codec, codec
from exports.formats.fixedwidth import (
    FieldOverflow,
    RecordSink,
    RecordWriter,
)
from exports.formats.layout import RecordLayout, load_layout
from exports.formats.types import Basis, Finding, FormatError, Line, WriteSummary

LAYOUT_FILE = "agresso_lg04.csv"
RECORD_LENGTHS = {"classic": 1905, "wide": 4324}
DIM_SLOTS = 7
TRANS_TYPE = "42"  # sales order
HEADER_TEXT_KEYS = ("unit_name", "unit_code", "period", "period_name", "reference")
_SETTINGS = {
    "client": "client",
    "voucher_type": "voucher_type",
    "order_type": "order_type",
    "pay_method": "pay_method",
    "responsible": "responsible",
    "responsible2": "responsible2",
    "batch_id": "batch_id",
}
_REQUIRED_SETTINGS = ("client", "voucher_type", "order_type", "batch_id")


@dataclass(frozen=True)
class AgressoOptions:
    """The municipality's LG04 settings. Invalid values raise ValueError on construction."""

    layout: Literal["classic", "wide"] = "classic"
    encoding: Literal["iso-8859-1", "cp1252"] = "iso-8859-1"
    line_ending: Literal["\r\n", "\n"] = "\r\n"
    client: str = ""
    voucher_type: str = ""
    order_type: str = ""
    pay_method: str = ""
    responsible: str = ""
    responsible2: str = ""
    batch_id: str = ""  # computed by the caller: prefix + YYMMDD + run letter/number
    # "apar_id": the payer's UBW customer number; "id_in_text": fnr/orgnr in tekst3 and tekst4.
    customer_mode: Literal["apar_id", "id_in_text"] = "apar_id"
    # Dimension key per slot dim_1..dim_7 ("" leaves the slot blank).
    dim_slots: tuple[str, ...] = ("", "", "", "", "", "", "")
    required_slots: frozenset[int] = frozenset()  # slot numbers 1..7 that must hold a value
    # Keys: unit_name, unit_code, period (YYYY-MM), period_name ("oktober 2026"), reference.
    header_text_template: str = "{unit_name} {period_name}"
    order_date: datetime.date | None = None  # None: blank, UBW uses the import date
    include_zero_amount: bool = True  # False: bases whose total is 0 get no order

    def __post_init__(self) -> None:
        problems = []
        if self.layout not in RECORD_LENGTHS:
            raise ValueError(
                "Ugyldige innstillinger for LG04-fil: layout må være classic eller wide"
            )
        layout = record_layout(self.layout)
        if self.encoding not in SUPPORTED_ENCODINGS:
            problems.append("tegnsett må være iso-8859-1 eller cp1252")
        if self.line_ending not in ("\r\n", "\n"):
            problems.append("linjeskift må være CRLF eller LF")
        if self.customer_mode not in ("apar_id", "id_in_text"):
            problems.append("kundereferanse må være apar_id eller id_in_text")
        for attr, field_name in _SETTINGS.items():
            width = layout.field(field_name).length
            if len(getattr(self, attr)) > width:
                problems.append(f"{attr} kan være høyst {width} tegn i {self.layout}-formatet")
        if len(self.dim_slots) > DIM_SLOTS:
            problems.append("høyst sju dimensjoner (dim_1–dim_7)")
        for slot in sorted(self.required_slots):
            if not 1 <= slot <= DIM_SLOTS:
                problems.append(f"påkrevd dimensjon {slot} finnes ikke (1–7)")
            elif slot > len(self.dim_slots) or not self.dim_slots[slot - 1]:
                problems.append(f"dim_{slot} er påkrevd, men ingen dimensjon er koblet til den")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.header_text_template)]
        except ValueError:
            problems.append("malen for topptekst er ugyldig")
        else:
            unknown = {f for f in fields if f is not None and f not in HEADER_TEXT_KEYS}
            if unknown or any(f == "" for f in fields):
                problems.append(
                    "malen for topptekst kan bare bruke "
                    + ", ".join(f"{{{k}}}" for k in HEADER_TEXT_KEYS)
                )
        if problems:
            raise ValueError("Ugyldige innstillinger for LG04-fil: " + "; ".join(problems))

    @property
    def slots(self) -> tuple[str, ...]:
        """dim_slots padded to seven."""
        return tuple(self.dim_slots) + ("",) * (DIM_SLOTS - len(self.dim_slots))


def record_layout(variant: str) -> RecordLayout:
    return load_layout(LAYOUT_FILE, variant=variant, expected_length=RECORD_LENGTHS[variant])


def _period_number(period: str) -> int | None:
    parts = checks.period_parts(period)
    return None if parts is None else parts[0] * 100 + parts[1]


def _included(basis: Basis, options: AgressoOptions) -> bool:
    return options.include_zero_amount or basis.total_ore != 0


# Per item line: (item values after order_id and line_no, its short_info texts).
_PlannedItem = tuple[tuple[Any, ...], Sequence[str]]
# Per order: (header values after order_id, items).
_PlannedOrder = tuple[tuple[Any, ...], list[_PlannedItem]]


def _header_fields(options: AgressoOptions) -> list[str]:
    fields = ["order_id", "period", "long_info1", "long_info2", "ext_ord_ref"]
    if options.customer_mode == "apar_id":
        fields.append("apar_id")
    else:
        fields += ["tekst3", "tekst4"]
    return fields


def _item_fields(options: AgressoOptions) -> list[str]:
    fields = ["order_id", "line_no", "article", "art_descr", "amount", "value_1"]
    fields += [f"dim_{i + 1}" for i, key in enumerate(options.slots) if key]
    return [*fields, "tax_code", "period"]


_Problems = tuple[tuple[str, str, str], ...]  # (code, message, field below the line)
_Article = _Problems
# (art_descr, transliterated, cut, value_1, problems)
_LineFacts = tuple[str, bool, bool, int, _Problems]


class _Planner:
    """Turns bases into LG04 values and findings. `validate()` and `write()` share it, so what is
    checked and what is written cannot drift apart."""

    def __init__(self, options: AgressoOptions) -> None:
        self.options = options
        self.codec: Codec = codec(options.encoding)
        layout = record_layout(options.layout)
        self.layout = layout
        self.width = {f.name: f.length for f in layout.fields}
        # Largest magnitude a signed field holds, keeping one position for the minus.
        self.amount_limit = 10 ** (self.width["amount"] - 1)
        self.quantity_limit = 10 ** (self.width["value_1"] - 1)
        self.dims = tuple((slot + 1, key) for slot, key in enumerate(options.slots) if key)
        self.dim_widths = tuple(self.width[f"dim_{slot}"] for slot, _ in self.dims)
        self.warnings: list[Finding] = []
        self.skipped: list[int] = []
        self._articles: dict[tuple[str, str], _Article] = {}
        self._facts = checks.Facts()
        # Warning texts made once: a month can have tens of thousands of warnings, and each
        # one is kept until the report is stored.
        self._header_cut = f"Toppteksten er kuttet til {self.width['long_info1']} tegn"
        self._description_cut = f"Linjeteksten er kuttet til {self.width['art_descr']} tegn"
        self._transliterated = checks.transliterated_message(options.encoding)

    def setting_errors(self) -> list[Finding]:
        return [
            error(
                "missing_setting",
                f"Innstillingen {name} mangler for Agresso-eksport",
                field=f"options.{name}",
            )
            for name in _REQUIRED_SETTINGS
            if not getattr(self.options, name)
        ]

    def _article(self, line: Line) -> _Article:
        """Problems with a line's article; a month has few articles, each checked once."""
        key = (line.agresso_article, line.service_code)
        cached = self._articles.get(key)
        if cached is not None:
            return cached
        problems: list[tuple[str, str, str]] = []
        width = self.width["article"]
        if not line.agresso_article:
            problems.append(
                (
                    "unknown_article",
                    f"Tjenesten {line.service_code} mangler artikkel i Agresso",
                    "agresso_article",
                )
            )
        elif len(line.agresso_article) > width:
            problems.append(
                (
                    "article_too_wide",
                    f"Artikkelen for {line.service_code} er lengre enn {width} tegn",
                    "agresso_article",
                )
            )
        result = tuple(problems)
        self._articles[key] = result
        return result

    def _line_facts(self, line: Line) -> _LineFacts:
        """The item values a line's service, description, quantity, amounts and VAT code give,
        whether the description was transliterated or cut, and the problems (field names
        relative to the line). Cached by those values: a month repeats a few hundred."""
        width = self.width
        problems = list(self._article(line))
        description = self.codec.clean(line.description)
        translit = self.codec.needs_transliteration(line.description)
        cut = len(description) > width["art_descr"]
        amount = line.amount_ore
        value_1 = checks.hundredths(line.quantity)
        if value_1 is None:
            problems.append(("quantity_precision", "Antall kan ha høyst to desimaler", "quantity"))
            value_1 = 0
        else:
            if not checks.amount_matches(value_1, line.unit_price_ore, amount):
                problems.append(
                    ("amount_mismatch", "Beløpet er ikke antall × enhetspris", "amount_ore")
                )
            if not -self.quantity_limit < value_1 < self.quantity_limit:
                problems.append(("quantity_too_wide", "Antallet er for stort", "quantity"))
        if not -self.amount_limit < amount < self.amount_limit:
            problems.append(
                (
                    "amount_too_wide",
                    f"Beløpet får ikke plass i amount ({width['amount']} tegn)",
                    "amount_ore",
                )
            )
        if len(line.vat_code) > width["tax_code"]:
            problems.append(
                (
                    "vat_code_too_wide",
                    f"MVA-koden er lengre enn {width['tax_code']} tegn",
                    "vat_code",
                )
            )
        return description, translit, cut, value_1, tuple(problems)

    def _dimensions(self, dimensions: Mapping[str, str]) -> tuple[tuple[str, ...], _Problems]:
        """dim_1..dim_7 values of a line's kontering, and the required or too-wide ones."""
        required = self.options.required_slots
        values = tuple(dimensions.get(key, "") for _, key in self.dims)
        problems: list[tuple[str, str, str]] = []
        for (slot, key), value, dim_width in zip(self.dims, values, self.dim_widths, strict=True):
            if not value and slot in required:
                problems.append(
                    (
                        "required_dimension_missing",
                        f"dim_{slot} ({key}) må ha en verdi",
                        f"dimensions.{key}",
                    )
                )
            elif len(value) > dim_width:
                problems.append(
                    (
                        "dimension_too_wide",
                        f"Verdien {value!r} for {key} er lengre enn {dim_width} tegn (dim_{slot})",
                        f"dimensions.{key}",
                    )
                )
        return values, tuple(problems)

    def _customer(self, basis: Basis, report: checks.Report) -> tuple[str, ...]:
        payer = basis.payer
        if self.options.customer_mode == "apar_id":
            number = payer.customer_number
            width = self.width["apar_id"]
            if not number:
                report.error(
                    "missing_customer_number",
                    f"Betaler {checks.masked(payer)} har ikke kundenummer i Agresso",
                    "payer.customer_number",
                )
            elif len(number) > width:
                report.error(
                    "customer_number_too_wide",
                    f"Kundenummeret er lengre enn {width} tegn",
                    "payer.customer_number",
                )
            return (number,)
        problem = checks.customer_id_problem(payer.identifier, payer.is_organisation)
        if problem:
            report.error(
                "invalid_customer_id",
                f"Betaler {checks.masked(payer)}: {problem}",
                "payer.identifier",
            )
        return (payer.identifier, payer.identifier)

    def plan(self, basis: Basis) -> tuple[_PlannedOrder, list[Finding]] | None:
        """((header, items), blocking errors); None if the options leave this basis out.
        Warnings are collected in `self.warnings`."""
        options = self.options
        if not _included(basis, options):
            self.skipped.append(basis.pk)
            return None
        report = checks.Report(basis, self.warnings)
        clean = self.codec.clean
        needs = self.codec.needs_transliteration
        payer = basis.payer
        width = self.width

        period = _period_number(basis.period)
        if period is None:
            report.error("invalid_period", "Ugyldig periode", "period")
            period = 0
        customer = self._customer(basis, report)
        text = header_text(
            options,
            unit_name=basis.unit_name,
            unit_code=basis.unit_code,
            period=basis.period,
            reference=basis.reference,
        )
        translit = needs(basis.unit_name) or needs(payer.name)
        if len(text) > width["long_info1"]:
            report.warning("header_text_cut", self._header_cut, "header_text")
        recipient_name = ""
        if basis.recipient.identifier != payer.identifier:
            recipient_name = clean(basis.recipient.name)
            translit = translit or needs(basis.recipient.name)
        if len(basis.reference) > width["ext_ord_ref"]:
            report.error(
                "reference_too_wide",
                f"Referansen er lengre enn {width['ext_ord_ref']} tegn (ext_ord_ref)",
                "reference",
            )
        header = (period, text, recipient_name, basis.reference, *customer)

        if not basis.lines:
            report.error("no_lines", "Fakturagrunnlaget har ingen linjer", "lines")
        items: list[_PlannedItem] = []
        facts = self._facts
        known_facts, known_dims, known_texts = facts.lines, facts.kb, facts.texts
        codec_, text_width = self.codec, width["short_info"]
        for index, line in enumerate(basis.lines):
            # Lines are tuples: service code, description, quantity, price, amount,
            # oppdragsgiver, vare, article and VAT code are one slice, one cache key.
            key = line[1:10]
            known = known_facts.get(key)
            if known is None:
                known = facts.remember(known_facts, key, self._line_facts(line))
            description, description_changed, cut, value_1, problems = known
            for code, message, attr in problems:
                report.error(code, message, f"lines[{index}].{attr}")
            translit = translit or description_changed
            if cut:
                report.warning(
                    "description_cut", self._description_cut, f"lines[{index}].description"
                )
            dimensions = line.dimensions
            # By identity: the selector hands lines with the same kontering one mapping.
            dims_known = known_dims.get(id(dimensions))
            if dims_known is None or dims_known[0] is not dimensions:
                dims_known = facts.remember(
                    known_dims, id(dimensions), (dimensions, *self._dimensions(dimensions))
                )
            _, dim_values, dim_problems = dims_known
            for code, message, attr in dim_problems:
                report.error(code, message, f"lines[{index}].{attr}")
            texts: Sequence[str] = line.texts
            if texts:
                wrapped = known_texts.get(texts)
                if wrapped is None:
                    wrapped = facts.remember(
                        known_texts, texts, checks.text_lines(texts, codec_, text_width)
                    )
                texts, changed = wrapped
                translit = translit or changed
            items.append(
                (
                    (
                        line.agresso_article,
                        description,
                        line.amount_ore,
                        value_1,
                        *dim_values,
                        line.vat_code,
                        period,
                    ),
                    texts,
                )
            )
        if translit:
            report.warning("transliterated", self._transliterated)
        return (header, items), report.errors


def validate(bases: Iterable[Basis], options: AgressoOptions) -> list[Finding]:
    """Every blocking error and warning the file would have, without writing anything: missing
    settings, then the errors of every basis in order, then the warnings in order.

    Errors: missing article, missing customer number (apar_id mode) or invalid id (id_in_text
    mode), empty required dimension, values wider than their field, required settings missing.
    Warnings: transliterated characters, descriptions and header texts cut to width.
    """
    return setting_errors(options) + checks.errors_then_warnings(validate_each(bases, options))


def setting_errors(options: AgressoOptions) -> list[Finding]:
    """Required settings left empty (client, voucher type, order type, batch id)."""
    return _Planner(options).setting_errors()


def validate_each(
    bases: Iterable[Basis], options: AgressoOptions
) -> Iterator[tuple[Basis, list[Finding], list[Finding]]]:
    """(basis, errors, warnings) for each basis the file would hold, in order."""
    planner = _Planner(options)
    warnings = planner.warnings
    for basis in bases:
        planned = planner.plan(basis)
        if planned is not None:
            yield basis, planned[1], warnings[:]
        warnings.clear()


@dataclass(frozen=True)
class Limits:
    """The widths and limits the checks use, for a database pre-check that must agree with them
    (`exports.prefilter`)."""

    widths: Mapping[str, int]  # field name → width in the chosen layout
    amount: int  # |amount| must stay below this
    quantity: int  # |value_1| (quantity × 100) must stay below this
    dims: tuple[tuple[int, str, int, bool], ...]  # (slot, dimension key, width, required)


def limits(options: AgressoOptions) -> Limits:
    planner = _Planner(options)
    required = options.required_slots
    return Limits(
        MappingProxyType(dict(planner.width)),
        planner.amount_limit,
        planner.quantity_limit,
        tuple(
            (slot, key, width, slot in required)
            for (slot, key), width in zip(planner.dims, planner.dim_widths, strict=True)
        ),
    )


def service_problems(line: Line, options: AgressoOptions) -> bool:
    """True if a line of this service (its article, VAT code and the kontering in
    `line.dimensions`) gets an error whatever its amounts and description."""
    planner = _Planner(options)
    if planner._article(line) or len(line.vat_code) > planner.width["tax_code"]:
        return True
    return bool(planner._dimensions(line.dimensions)[1])


def header_text(
    options: AgressoOptions, *, unit_name: str, unit_code: str, period: str, reference: str
) -> str:
    """The order header's text (`long_info1`) as the file holds it, before it is cut to width."""
    return codec(options.encoding).clean(
        options.header_text_template.format(
            unit_name=unit_name,
            unit_code=unit_code,
            period=period,
            period_name=checks.period_name(period),
            reference=reference,
        )
    )


def write(
    bases: Iterable[Basis], options: AgressoOptions, out: BinaryIO, order_ids: Iterator[int]
) -> WriteSummary:
    """Stream the file to `out`, one order per basis, taking the next id from `order_ids` each.

    `summary.order_ids` maps basis pk → the order id it got. Raises FormatError on a blocking error
    (part of the file may be written: write to a temporary file) and ValueError when `order_ids`
    runs out.
    """
    planner = _Planner(options)
    setting_errors = planner.setting_errors()
    if setting_errors:
        raise FormatError(setting_errors)
    layout = planner.layout
    codec_ = planner.codec
    keys: dict[str, object] = {
        "batch_id": options.batch_id,
        "client": options.client,
        "trans_type": TRANS_TYPE,
        "voucher_type": options.voucher_type,
    }
    classic = layout.has("accept_flag")
    header = RecordWriter(
        layout,
        codec_,
        _header_fields(options),
        keys
        | ({"accept_flag": 1} if classic else {})
        | {
            "line_no": 0,
            "currency": "NOK",
            "order_type": options.order_type,
            "pay_method": options.pay_method,
            "responsible": options.responsible,
            "responsible2": options.responsible2,
            "status": "N",
            "order_date": options.order_date,
            "confirm_date": options.order_date,
            "deliv_date": options.order_date,
        },
    )
    item = RecordWriter(
        layout,
        codec_,
        _item_fields(options),
        keys
        | ({"accept_flag": 0} if classic else {})
        | {"sequence_no": 0, "amount_set": 1, "status": "N"},
    )
    text = RecordWriter(
        layout,
        codec_,
        ["order_id", "line_no", "sequence_no", "short_info"],
        keys | ({"accept_flag": 0} if classic else {}),
    )
    sink = RecordSink(out, codec_, options.line_ending, chunk=64)
    summary = WriteSummary()
    # A text line repeats its item's order_id and line_no; only sequence_no and short_info vary.
    header_render, item_render, text_run = header.render, item.render, text.run_renderer(2)
    append, extend = sink.append, sink.extend
    for basis in bases:
        planned = planner.plan(basis)
        if planned is None:
            continue
        (header_values, items), errors = planned
        if errors:
            raise FormatError(errors)
        try:
            order_id = next(order_ids)
        except StopIteration:
            raise ValueError(
                "Nummerserien for ordrenummer er brukt opp; reserver flere før eksporten"
            ) from None
        try:
            append(header_render((order_id, *header_values)))
            line_no = 0
            for item_values, texts in items:
                line_no += 1
                append(item_render((order_id, line_no, *item_values)))
                if texts:
                    extend(text_run((order_id, line_no), enumerate(texts, 1)))
        except FieldOverflow as exc:
            raise FormatError(
                [error("field_overflow", f"Verdi får ikke plass i filen: {exc}", basis, exc.field)]
            ) from exc
        sink.maybe_flush()
        summary.order_ids[basis.pk] = order_id
        summary.count += 1
        summary.total_ore += basis.total_ore
    sink.flush()
    summary.records = sink.records
    summary.bytes = sink.bytes
    summary.warnings = planner.warnings
    summary.skipped_pks = planner.skipped
    return summary
