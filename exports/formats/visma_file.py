"""Visma Enterprise Fakturering import file: ST, then FL (+ its LT text lines) per invoice line, SL.

Positions come from `exports/layouts/visma_fakturering.csv`; this module decides only *what* goes in
each field. Choices the vendor text leaves open:

- KUNDENR is the payer's national id, or the organisasjonsnummer zero-padded to 11.
- A credit line (negative quantity, positive price) is written with GRUNNLAG = |quantity| and a
  negative PRIS, because GRUNNLAG has no sign position; BELØP keeps its own sign.
- SAKSNR: in the extended layout the care system's source reference (cut to 16 with a warning, the
  basis stays traceable through ORDREREF); in the basic layout, which has no ORDREREF, the basis's
  stable reference.
- DERESREF (extended): the recipient's name when someone else pays, so the payer sees whom the
  invoice concerns; blank otherwise.
- ORDREREF (extended): the basis's stable reference.
- LØPENR counts repeats of (KUNDENR, oppdragsgiver, vare) across the whole file, in write order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from exports.formats import checks
from exports.formats.checks import Facts as _Facts
from exports.formats.checks import error
from exports.formats.encoding import SUPPORTED_ENCODINGS, Codec, codec
from exports.formats.fixedwidth import (
    FieldOverflow,
    RecordSink,
    RecordWriter,
)
from exports.formats.layout import RecordLayout, load_layout
from exports.formats.types import Basis, Finding, FormatError, Line, WriteSummary

LAYOUT_FILE = "visma_fakturering.csv"
RECORD_LENGTHS = {"ST": 63, "FL_basic": 163, "FL_extended": 397, "LT": 74, "SL": 10}
KB_SLOTS = 10
MAX_RUNNING_NO = 99
MAX_TEXT_LINES = 99
TEXT_WIDTH = 50
KB_WIDTH = 12
VAT_WIDTH = 3  # MVAKODE
# Magnitudes GRUNNLAG, PRIS and BELØP hold (9 digits, 8 digits + sign, 10 digits + sign).
QUANTITY_LIMIT = 1_000_000_000
PRICE_LIMIT = 100_000_000
AMOUNT_LIMIT = 10_000_000_000


@dataclass(frozen=True)
class VismaFileOptions:
    """The municipality's Visma file settings. Invalid values raise ValueError on construction."""

    layout: Literal["extended", "basic"] = "extended"
    encoding: Literal["iso-8859-1", "cp1252"] = "iso-8859-1"
    line_ending: Literal["\r\n", "\n"] = "\r\n"
    # 2: GRUNNLAG holds quantity × 100; 0: whole units (a fractional quantity is then an error).
    quantity_decimals: Literal[2, 0] = 2
    # Used for lines whose service has no oppdragsgiver of its own (3 digits, or "" for none).
    default_oppdragsgiver: str = ""
    # Dimension key per kontering slot KB01..KB10 (extended layout only); "" leaves a slot blank.
    kb_slots: tuple[str, ...] = ()
    betform: Literal["BG", "PG"] = "BG"
    profil: str = ""  # PROFIL (extended), the same on every line
    reference_text: str = ""  # ST REFERANSE: printed on Visma's receipt list
    include_zero_amount: bool = True  # False: bases whose total is 0 are left out

    def __post_init__(self) -> None:
        problems = []
        if self.layout not in ("extended", "basic"):
            problems.append("layout må være extended eller basic")
        if self.encoding not in SUPPORTED_ENCODINGS:
            problems.append("tegnsett må være iso-8859-1 eller cp1252")
        if self.line_ending not in ("\r\n", "\n"):
            problems.append("linjeskift må være CRLF eller LF")
        if self.quantity_decimals not in (2, 0):
            problems.append("antall desimaler i GRUNNLAG må være 2 eller 0")
        if self.default_oppdragsgiver and not checks.is_digits(self.default_oppdragsgiver, 3):
            problems.append("standard oppdragsgiver må være tre siffer")
        if len(self.kb_slots) > KB_SLOTS:
            problems.append("høyst ti konteringsfelt (KB01–KB10)")
        if self.betform not in ("BG", "PG"):
            problems.append("betalingsform må være BG eller PG")
        if len(self.profil) > 20:
            problems.append("profil kan være høyst 20 tegn")
        if problems:
            raise ValueError("Ugyldige innstillinger for Visma-fil: " + "; ".join(problems))

    @property
    def fl_record(self) -> str:
        return "FL_extended" if self.layout == "extended" else "FL_basic"


def record_layout(record: str) -> RecordLayout:
    return load_layout(LAYOUT_FILE, record, expected_length=RECORD_LENGTHS[record])


# Per FL: (FL values in `_fl_fields()` order, (KUNDENR, OPPDRGNR, VARENR, LØPENR), LT texts).
_PlannedLine = tuple[tuple[Any, ...], tuple[int, int, int, int], Sequence[str]]


def _fl_fields(options: VismaFileOptions) -> list[str]:
    fields = [
        "KUNDENR",
        "NAVN",
        "ADRESSE1",
        "ADRESSE2",
        "POSTNR",
        "OPPDRGNR",
        "VARENR",
        "LOPENR",
        "PRIS",
        "GRUNNLAG",
        "BELOP",
        "SAKSNR",
    ]
    if options.layout == "extended":
        fields += [f"KB{i + 1:02d}" for i, key in enumerate(options.kb_slots) if key]
        fields += ["MVAKODE", "DERESREF", "ORDREREF"]
    return fields


_Problems = tuple[tuple[str, str, str], ...]  # (code, message, field below the line)
_Mapping = tuple[int, int, _Problems]
# (oppdragsgiver, vare, PRIS, GRUNNLAG, problems, VAT code problem)
_LineFacts = tuple[int, int, int, int, _Problems, "tuple[str, str, str] | None"]


class _Planner:
    """Turns bases into FL/LT values and findings. `validate()` and `write()` share it, so what is
    checked and what is written cannot drift apart. It runs for every line of every file, hence
    the caches and the plain tuples."""

    def __init__(self, options: VismaFileOptions) -> None:
        self.options = options
        self.codec: Codec = codec(options.encoding)
        fl = record_layout(options.fl_record)
        self.name_width = fl.field("NAVN").length
        self.address_width = fl.field("ADRESSE1").length
        self.case_width = fl.field("SAKSNR").length
        self.extended = options.layout == "extended"
        self.kb = tuple(key for key in options.kb_slots if key)
        self.whole_units = options.quantity_decimals == 0
        self.running: dict[tuple[int, int, int], int] = {}
        self._mappings: dict[tuple[str, str, str], _Mapping] = {}
        self._facts = _Facts()
        # Warning texts made once: a month can have tens of thousands of warnings, and each
        # one is kept until the report is stored.
        self._name_cut = f"Navnet er kuttet til {self.name_width} tegn i filen"
        self._address_cut = f"Adresselinjen er kuttet til {self.address_width} tegn i filen"
        self._case_cut = f"Kildereferansen er kuttet til {self.case_width} tegn i SAKSNR"
        self._transliterated = checks.transliterated_message(options.encoding)
        self.warnings: list[Finding] = []
        self.skipped: list[int] = []

    def _mapping(self, line: Line) -> _Mapping:
        """(oppdragsgiver, vare, problems) of a line's service; few per month, each checked once."""
        key = (line.visma_oppdragsgiver, line.visma_vare, line.service_code)
        cached = self._mappings.get(key)
        if cached is not None:
            return cached
        service = line.service_code
        opp_text = line.visma_oppdragsgiver or self.options.default_oppdragsgiver
        opp = vare = 0
        problems: list[tuple[str, str, str]] = []
        if not opp_text:
            problems.append(
                (
                    "unknown_oppdragsgiver",
                    f"Tjenesten {service} har ingen oppdragsgiver i Visma, og kommunen har "
                    "ingen standard",
                    "visma_oppdragsgiver",
                )
            )
        elif not checks.is_digits(opp_text, 3):
            problems.append(
                (
                    "invalid_oppdragsgiver",
                    f"Oppdragsgiver for tjenesten {service} må være tre siffer",
                    "visma_oppdragsgiver",
                )
            )
        else:
            opp = int(opp_text)
        if not line.visma_vare:
            problems.append(
                ("unknown_vare", f"Tjenesten {service} mangler varenummer i Visma", "visma_vare")
            )
        elif not checks.is_digits(line.visma_vare, 4):
            problems.append(
                (
                    "invalid_vare",
                    f"Varenummeret for tjenesten {service} må være fire siffer",
                    "visma_vare",
                )
            )
        else:
            vare = int(line.visma_vare)
        result = (opp, vare, tuple(problems))
        self._mappings[key] = result
        return result

    def _line_facts(self, line: Line) -> _LineFacts:
        """What a line's service, quantity, price, amount and VAT code give, with their problems
        (field names relative to the line). Cached by those values: a month repeats a few
        hundred combinations over 100 000 lines."""
        opp, vare, problems = self._mapping(line)
        found = list(problems)
        price, amount = line.unit_price_ore, line.amount_ore
        grunnlag = checks.hundredths(line.quantity)
        if grunnlag is None:
            found.append(("quantity_precision", "Antall kan ha høyst to desimaler", "quantity"))
            grunnlag = 0
        elif not checks.amount_matches(grunnlag, price, amount):
            found.append(("amount_mismatch", "Beløpet er ikke antall × enhetspris", "amount_ore"))
        # GRUNNLAG has no sign: a credit's minus moves to PRIS (BELØP keeps its own).
        if grunnlag < 0:
            grunnlag, price = -grunnlag, -price
        if self.whole_units:
            if grunnlag % 100:
                found.append(
                    (
                        "fractional_quantity",
                        f"Antall {line.quantity} er ikke et helt tall, og kommunen leverer hele "
                        "enheter til Visma",
                        "quantity",
                    )
                )
            grunnlag //= 100
        if grunnlag >= QUANTITY_LIMIT:
            found.append(("quantity_too_wide", "Antallet er for stort", "quantity"))
        if not -PRICE_LIMIT < price < PRICE_LIMIT:
            found.append(
                (
                    "price_too_wide",
                    "Enhetsprisen får ikke plass i PRIS (høyst 999 999,99 kr)",
                    "unit_price_ore",
                )
            )
        if not -AMOUNT_LIMIT < amount < AMOUNT_LIMIT:
            found.append(
                (
                    "amount_too_wide",
                    "Beløpet får ikke plass i BELØP (høyst 99 999 999,99 kr)",
                    "amount_ore",
                )
            )
        vat_problem: tuple[str, str, str] | None = None
        if self.extended and len(line.vat_code) > VAT_WIDTH:
            vat_problem = ("vat_code_too_wide", "MVA-koden er lengre enn tre tegn", "vat_code")
        return opp, vare, price, grunnlag, tuple(found), vat_problem

    def _kb(self, dimensions: Mapping[str, str]) -> tuple[tuple[str, ...], _Problems]:
        """KB01..KB10 values of a line's kontering, and the values too wide for a slot."""
        kb_values = tuple(dimensions.get(key, "") for key in self.kb)
        problems = tuple(
            (
                "dimension_too_wide",
                f"Konteringsverdien {value!r} ({slot}) er lengre enn 12 tegn",
                f"dimensions.{slot}",
            )
            for slot, value in zip(self.kb, kb_values, strict=True)
            if len(value) > KB_WIDTH
        )
        return kb_values, problems

    def plan(self, basis: Basis) -> tuple[list[_PlannedLine], list[Finding]] | None:
        """(lines, blocking errors); None if the options leave this basis out. Warnings are
        collected in `self.warnings`."""
        if not self.options.include_zero_amount and basis.total_ore == 0:
            self.skipped.append(basis.pk)
            return None
        report = checks.Report(basis, self.warnings)
        clean = self.codec.clean
        needs = self.codec.needs_transliteration
        payer = basis.payer

        problem = checks.customer_id_problem(payer.identifier, payer.is_organisation)
        customer_no = 0
        if problem:
            report.error(
                "invalid_customer_id",
                f"Betaler {checks.masked(payer)}: {problem}",
                "payer.identifier",
            )
        else:
            customer_no = int(payer.identifier)
        if not payer.name.strip():
            report.error("missing_name", "Betaler mangler navn", "payer.name")
        postcode = 0
        if not payer.postcode:
            report.error("missing_postcode", "Betaler mangler postnummer", "payer.postcode")
        elif not checks.is_digits(payer.postcode, 4):
            report.error(
                "invalid_postcode", "Betalers postnummer må være fire siffer", "payer.postcode"
            )
        else:
            postcode = int(payer.postcode)

        address2_source = payer.address2 or payer.place
        name, address1, address2 = (
            clean(payer.name),
            clean(payer.address1),
            clean(address2_source),
        )
        translit = needs(payer.name) or needs(payer.address1) or needs(address2_source)
        if len(name) > self.name_width:
            report.warning("name_cut", self._name_cut, "payer.name")
        if len(address1) > self.address_width:
            report.warning("address_cut", self._address_cut, "payer.address1")
        if len(address2) > self.address_width:
            report.warning("address_cut", self._address_cut, "payer.address2")

        your_ref = ""
        if self.extended:
            if len(basis.reference) > 20:
                report.error(
                    "reference_too_wide", "Referansen er lengre enn 20 tegn (ORDREREF)", "reference"
                )
            case_no = clean(basis.source_reference)
            if len(case_no) > self.case_width:
                report.warning("source_reference_cut", self._case_cut, "source_reference")
            recipient = basis.recipient
            if recipient.identifier != payer.identifier:
                your_ref = clean(recipient.name)
                translit = translit or needs(recipient.name)
        else:
            case_no = basis.reference
            if len(case_no) > self.case_width:
                report.error(
                    "reference_too_wide",
                    f"Referansen er lengre enn {self.case_width} tegn (SAKSNR)",
                    "reference",
                )

        if not basis.lines:
            report.error("no_lines", "Fakturagrunnlaget har ingen linjer", "lines")
        planned: list[_PlannedLine] = []
        running_numbers = self.running
        extended = self.extended
        head = (customer_no, name, address1, address2, postcode)
        facts, known_facts = self._facts, self._facts.lines
        known_kb, known_texts = facts.kb, facts.texts
        codec_ = self.codec
        reference = basis.reference
        for index, line in enumerate(basis.lines):
            # Lines are tuples: service code, description, quantity, price, amount,
            # oppdragsgiver, vare, article and VAT code are one slice, one cache key.
            key = line[1:10]
            known = known_facts.get(key)
            if known is None:
                known = facts.remember(known_facts, key, self._line_facts(line))
            opp, vare, price, grunnlag, problems, vat_problem = known
            amount = line.amount_ore
            if problems:
                for code, message, attr in problems:
                    report.error(code, message, f"lines[{index}].{attr}")

            key3 = (customer_no, opp, vare)
            running = running_numbers.get(key3, 0) + 1
            running_numbers[key3] = running
            if running > MAX_RUNNING_NO:
                report.error(
                    "too_many_running_numbers",
                    f"Mer enn {MAX_RUNNING_NO} linjer med samme kunde, oppdragsgiver og vare i "
                    "én fil (LØPENR)",
                    f"lines[{index}]",
                )

            texts: Sequence[str] = line.texts
            if texts:
                wrapped = known_texts.get(texts)
                if wrapped is None:
                    wrapped = facts.remember(
                        known_texts, texts, checks.text_lines(texts, codec_, TEXT_WIDTH)
                    )
                texts, changed = wrapped
                translit = translit or changed
                if len(texts) > MAX_TEXT_LINES:
                    report.error(
                        "too_many_text_lines",
                        f"Linjen har {len(texts)} tekstlinjer etter ombrekking; Visma tar høyst "
                        f"{MAX_TEXT_LINES}",
                        f"lines[{index}].texts",
                    )

            values: tuple[Any, ...] = (*head, opp, vare, running, price, grunnlag, amount, case_no)
            if extended:
                dimensions = line.dimensions
                # By identity: the selector hands lines with the same kontering one mapping.
                kb_known = known_kb.get(id(dimensions))
                if kb_known is None or kb_known[0] is not dimensions:
                    kb_known = facts.remember(
                        known_kb, id(dimensions), (dimensions, *self._kb(dimensions))
                    )
                _, kb_values, kb_problems = kb_known
                for code, message, attr in kb_problems:
                    report.error(code, message, f"lines[{index}].{attr}")
                if vat_problem is not None:
                    report.error(vat_problem[0], vat_problem[1], f"lines[{index}].{vat_problem[2]}")
                values = (*values, *kb_values, line.vat_code, your_ref, reference)
            planned.append((values, (customer_no, opp, vare, running), texts))

        if translit:
            report.warning("transliterated", self._transliterated)
        return planned, report.errors


def validate(bases: Iterable[Basis], options: VismaFileOptions) -> list[Finding]:
    """Every blocking error and warning the file would have, without writing anything: the errors
    of every basis in order, then the warnings in order.

    Errors: missing/invalid oppdragsgiver or vare, invalid customer id, missing postcode, amounts
    or quantities too wide, fractional quantity with whole units, more than 99 running numbers or
    text lines. Warnings: transliterated characters, names/addresses cut to width.
    """
    return checks.errors_then_warnings(validate_each(bases, options))


def validate_each(
    bases: Iterable[Basis], options: VismaFileOptions
) -> Iterator[tuple[Basis, list[Finding], list[Finding]]]:
    """(basis, errors, warnings) for each basis the file would hold, in order.

    Running numbers count across all the bases given, as in the file: a subset of a month can only
    count fewer than the month, never more.
    """
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

    name: int
    address: int
    case_no: int  # SAKSNR
    extended: bool
    kb_keys: tuple[str, ...]  # dimension key of each filled KB slot, in order


def limits(options: VismaFileOptions) -> Limits:
    planner = _Planner(options)
    return Limits(
        planner.name_width, planner.address_width, planner.case_width, planner.extended, planner.kb
    )


def service_problems(line: Line, options: VismaFileOptions) -> bool:
    """True if a line of this service (its mapping, VAT code and the kontering in
    `line.dimensions`) gets an error whatever its amounts: the checks `plan()` caches per service.
    """
    planner = _Planner(options)
    _opp, _vare, problems = planner._mapping(line)
    if problems or (planner.extended and len(line.vat_code) > VAT_WIDTH):
        return True
    return planner.extended and bool(planner._kb(line.dimensions)[1])


def write(bases: Iterable[Basis], options: VismaFileOptions, out: BinaryIO) -> WriteSummary:
    """Stream the file to `out`, record by record; raises FormatError on a blocking error.

    On FormatError part of the file may already be written: write to a temporary file and discard
    it then. The summary's warnings are those `validate()` reports.
    """
    planner = _Planner(options)
    codec_ = planner.codec
    # FORMAT is written in both layouts (blank for basic), so ST is always 63 bytes.
    st = RecordWriter(
        record_layout("ST"),
        codec_,
        ["REFERANSE"],
        {"POSTTYPE": "ST", "FORMAT": "U" if planner.extended else ""},
    )
    fl = RecordWriter(
        record_layout(options.fl_record),
        codec_,
        _fl_fields(options),
        {"POSTTYPE": "FL", "BETFORM": options.betform}
        | ({"PROFIL": options.profil} if planner.extended else {}),
    )
    lt = RecordWriter(
        record_layout("LT"),
        codec_,
        ["KUNDENR", "OPPDRGNR", "VARENR", "LOPENR", "LINJENR", "TEKST"],
        {"POSTTYPE": "LT"},
    )
    sl = RecordWriter(record_layout("SL"), codec_, ["ANTPOST"], {"POSTTYPE": "SL"})
    sink = RecordSink(out, codec_, options.line_ending)
    summary = WriteSummary()
    records = 0

    sink.add(st.render([options.reference_text]))
    records += 1
    # An LT repeats its FL's key; only LINJENR and TEKST vary.
    fl_render, lt_run = fl.render, lt.run_renderer(4)
    append, extend = sink.append, sink.extend
    for basis in bases:
        planned = planner.plan(basis)
        if planned is None:
            continue
        lines, errors = planned
        if errors:
            raise FormatError(errors)
        try:
            for fl_values, key, texts in lines:
                append(fl_render(fl_values))
                if texts:
                    extend(lt_run(key, enumerate(texts, 1)))
                records += 1 + len(texts)
        except FieldOverflow as exc:
            raise FormatError(
                [error("field_overflow", f"Verdi får ikke plass i filen: {exc}", basis, exc.field)]
            ) from exc
        sink.maybe_flush()
        summary.count += 1
        summary.total_ore += basis.total_ore
    records += 1
    sink.add(sl.render([records]))
    sink.flush()
    summary.records = sink.records
    summary.bytes = sink.bytes
    summary.warnings = planner.warnings
    summary.skipped_pks = planner.skipped
    return summary
