"""An export's validation of a whole month in one PostgreSQL query, held to the format checks.

The format checks (`visma_file.validate`, `agresso_lg04.validate`) are the reference: they read
every basis into Python and plan it as the writer would. On a month of 20 000 bases nearly all of
them are fine, and reading them is most of the cost. So on PostgreSQL one query looks at every
basis and line and says, per basis, two things:

- **suspect**: the basis *may* have an error or a warning other than transliteration (a value
  near or over a width, an amount that does not add up, an unusual character, a service whose
  mapping the checks refuse, too many text lines, …). Suspects go through the format checks, and
  what those say is the answer. A condition here may be broader than the check it stands for,
  never narrower.
- **transliterated**: whether the file will show other letters than the database holds; exact,
  from the encoding's own character set (`Codec.encodable`). A basis that is not suspect gets
  exactly this warning or nothing.

The payer's national id / organisasjonsnummer is checked in Python with the checks' own function,
and the service mapping with the format's own `service_problems()`. Whatever the query cannot
decide exactly, such as a running number (Visma LØPENR) over 99 anywhere in the month, sends the
whole selection through the reference instead; so does any database other than PostgreSQL.

`tests/exports/test_prefilter.py` holds both paths to the same findings, in the same order, for
generated months full of edge cases. A check added to a format's planner needs its condition here
too, or that test fails.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection

from invoices.models import Unit, basis_reference

from .formats import agresso_lg04, checks, visma_file
from .formats.encoding import Codec, codec
from .formats.types import Basis, Finding, Line
from .selectors import Selection, iter_chunks, service_catalogue

Options = visma_file.VismaFileOptions | agresso_lg04.AgressoOptions
PerBasis = tuple[Basis, list[Finding], list[Finding]]

# A basis id this large makes a reference longer than the formats' fields assume.
_LARGEST_PLAIN_ID = 10**9


def validate_selection(
    selection: Selection,
    options: Options,
    *,
    chunk_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> list[Finding]:
    """Every finding the format's `validate()` gives for the selection's bases, in its order.

    `progress(done)` is called as bases are checked (per chunk on the reference path, once at the
    end on the fast path)."""
    module: Any = visma_file if isinstance(options, visma_file.VismaFileOptions) else agresso_lg04
    head: list[Finding] = (
        agresso_lg04.setting_errors(options)
        if isinstance(options, agresso_lg04.AgressoOptions)
        else []
    )
    flags = _flags(selection, options) if connection.vendor == "postgresql" else None
    if flags is None:
        return head + checks.errors_then_warnings(
            module.validate_each(_counted(selection, chunk_size, progress), options)
        )
    suspects = [pk for pk, suspect, _translit in flags if suspect]
    checked = module.validate_each(
        _counted(dataclasses.replace(selection, basis_ids=suspects), chunk_size, None)
        if suspects
        else iter(()),
        options,
    )
    findings = head + checks.errors_then_warnings(
        _merged(flags, checked, selection.municipality.number, options.encoding)
    )
    if progress is not None:
        progress(len(flags))
    return findings


def _counted(
    selection: Selection, chunk_size: int, progress: Callable[[int], None] | None
) -> Iterator[Basis]:
    done = 0
    for chunk in iter_chunks(selection, chunk_size=chunk_size):
        yield from chunk.bases
        done += len(chunk.bases)
        if progress is not None:
            progress(done)


def _merged(
    flags: Sequence[tuple[int, bool, bool]],
    checked: Iterator[PerBasis],
    number: str,
    encoding: str,
) -> Iterator[tuple[object, list[Finding], list[Finding]]]:
    """Per basis in id order: the format checks' findings for a suspect, the transliteration
    warning (or nothing) for the rest."""
    message = checks.transliterated_message(encoding)
    upcoming = next(checked, None)
    for pk, suspect, translit in flags:
        if suspect:
            # A suspect the checks did not see (it left the selection in between) has nothing.
            while upcoming is not None and upcoming[0].pk < pk:
                upcoming = next(checked, None)
            if upcoming is not None and upcoming[0].pk == pk:
                yield upcoming
                upcoming = next(checked, None)
        elif translit:
            reference = basis_reference(number, pk)
            yield pk, [], [Finding("transliterated", message, "warning", pk, reference)]


# --- the query ----------------------------------------------------------------------------------


def _bracket(chars: Iterable[str]) -> str:
    """A regular-expression bracket body for these characters, as ranges of \\uXXXX escapes: the
    SQL stays ASCII, whatever the client encoding."""
    points = sorted({ord(ch) for ch in chars})
    parts: list[str] = []
    start = prev = None
    for point in [*points, None]:
        if start is not None and point == prev + 1:  # type: ignore[operator]
            prev = point
            continue
        if start is not None:
            parts.append(f"\\u{start:04X}" if start == prev else f"\\u{start:04X}-\\u{prev:04X}")
        start = prev = point
    return "".join(parts)


def _literal(text: str) -> str:
    """A SQL string literal of any text, written in ASCII (U&'…' with \\XXXX escapes)."""
    body = "".join(
        ch
        if ch.isascii() and ch.isalnum()
        else f"\\{ord(ch):04X}"
        if ord(ch) < 0x10000
        else f"\\+{ord(ch):06X}"
        for ch in text
    )
    return f"U&'{body}'"


@dataclasses.dataclass(frozen=True)
class _Text:
    """SQL for what `Codec.clean()` and `needs_transliteration()` do to a text column."""

    unchanged: frozenset[str]  # kept as they are
    replacements: dict[str, str]  # replaced, with what (`Codec.replacements`)
    encodable: frozenset[str]  # held by the encoding

    @functools.cached_property
    def same_width(self) -> frozenset[str]:
        """Characters whose cleaned form is one character: kept, or replaced one for one."""
        return self.unchanged | {k for k, v in self.replacements.items() if len(v) == 1}

    def transliterated(self, column: str) -> str:
        return f"({column} ~ '[^{_bracket(self.encodable)}]')"

    def cleaned(self, column: str) -> str:
        single = {k: v for k, v in self.replacements.items() if len(v) == 1}
        source, target = _literal("".join(single)), _literal("".join(single.values()))
        expression = f"translate({column}, {source}, {target})"
        for old, new in self.replacements.items():
            if len(new) > 1:
                expression = f"replace({expression}, {_literal(old)}, {_literal(new)})"
        return expression

    def longer_than(self, column: str, width: int) -> str:
        """True if the cleaned text is wider than `width`, or if the query cannot tell. Most texts
        keep their length when cleaned; only the rest are cleaned here to be measured."""
        mapped = _bracket({*self.unchanged, *self.replacements})
        return (
            f"(CASE WHEN {column} ~ '^[{_bracket(self.same_width)}]*$'"
            f" THEN length({column}) > {width}"
            f" WHEN {column} ~ '^[{mapped}]*$' THEN length({self.cleaned(column)}) > {width}"
            " ELSE true END)"
        )

    def texts_wider_than(self, width: int) -> str:
        """True unless a line's `texts` are strings that each stay one text line of at most
        `width` when cleaned: no JSON escapes (so every quote delimits a string), only characters
        cleaned one for one, and no run of more than `width` characters between quotes."""
        return (
            f"(l.texts::text !~ '^[{_bracket(self.same_width - {chr(92)})}]*$'"
            f" OR (length(l.texts::text) > {width + 4}"
            f" AND l.texts::text ~ '[^\"]{{{width + 1}}}'))"
        )


@functools.cache
def _text(encoding: str) -> _Text:
    c: Codec = codec(encoding)
    return _Text(c.unchanged, c.replacements, c.encodable)


def _dimension(key: str) -> str:
    """The line's value for a dimension key as the selector gives it (the line's own value over
    the service's; null or "" for none); NULL where that is not a JSON string, which the query
    treats as suspect."""
    k = _literal(key)

    def own(column: str) -> str:
        return (
            f"(CASE jsonb_typeof({column} -> {k}) WHEN 'string' THEN {column} ->> {k}"
            " WHEN 'null' THEN '' END)"
        )

    return (
        f"(CASE WHEN l.dimensions ? {k} THEN {own('l.dimensions')}"
        f" WHEN s.default_dimensions ? {k} THEN {own('s.default_dimensions')} ELSE '' END)"
    )


def _unless_empty_texts(*conditions: str) -> str:
    """Conditions on a line's texts, skipped for the many lines without any."""
    return f"(CASE WHEN l.texts = '[]'::jsonb THEN false ELSE {_any(conditions)} END)"


def _unless_own_dimensions_empty(*conditions: str) -> str:
    """Conditions on a line's kontering, skipped for lines without their own (the service's
    defaults are checked once per service, by `service_problems`)."""
    return (
        "(CASE WHEN l.dimensions = '{}'::jsonb THEN false"
        " WHEN jsonb_typeof(l.dimensions) <> 'object' THEN true"
        f" ELSE {_any(conditions)} END)"
    )


def _identifier(alias: str) -> str:
    return f"coalesce(nullif({alias}.national_id, ''), {alias}.org_number)"


# Both formats refuse a line whose service mapping they refuse, or whose amount is not quantity ×
# price (ties away from zero, as PostgreSQL's round() of a numeric does).
_EVERY_FORMAT_LINE = (
    "l.service_id = ANY(%(bad_services)s)",
    "l.amount_ore <> round(l.quantity * l.unit_price_ore)",
)
_SOMEONE_ELSE_PAYS = f"{_identifier('r')} <> {_identifier('p')}"


def _any(conditions: Iterable[str]) -> str:
    """OR of conditions, each NULL counted as true (unknown is suspect)."""
    return " OR ".join(f"coalesce({c}, true)" for c in conditions) or "false"


def _visma_conditions(
    options: visma_file.VismaFileOptions, t: _Text
) -> tuple[list[str], list[str], list[str], list[str]]:
    limits = visma_file.limits(options)
    line_suspect = [
        *_EVERY_FORMAT_LINE,
        # The line table's own constraints keep these inside today; the query does not rely on it.
        f"abs(l.quantity * 100) >= {visma_file.QUANTITY_LIMIT}",
        f"abs(l.unit_price_ore) >= {visma_file.PRICE_LIMIT}",
        f"abs(l.amount_ore) >= {visma_file.AMOUNT_LIMIT}",
        _unless_empty_texts(
            t.texts_wider_than(visma_file.TEXT_WIDTH),
            f"jsonb_array_length(l.texts) > {visma_file.MAX_TEXT_LINES}",
        ),
    ]
    if options.quantity_decimals == 0:
        line_suspect.append("l.quantity <> trunc(l.quantity)")
    if limits.extended:
        line_suspect.append(
            _unless_own_dimensions_empty(
                *(f"length({_dimension(key)}) > {visma_file.KB_WIDTH}" for key in limits.kb_keys)
            )
        )
    line_translit = [_unless_empty_texts(t.transliterated("l.texts::text"))]
    address2 = "coalesce(nullif(p.address2, ''), p.place)"
    basis_suspect = [
        "btrim(p.name, ' ') = ''",
        "p.postcode !~ '^[0-9]{4}$'",
        t.longer_than("p.name", limits.name),
        t.longer_than("p.address1", limits.address),
        t.longer_than(address2, limits.address),
    ]
    if limits.extended:
        basis_suspect.append(t.longer_than("b.source_reference", limits.case_no))
    basis_translit = [
        t.transliterated("p.name"),
        t.transliterated("p.address1"),
        t.transliterated(address2),
    ]
    if limits.extended:
        basis_translit.append(f"({_SOMEONE_ELSE_PAYS} AND {t.transliterated('r.name')})")
    return line_suspect, line_translit, basis_suspect, basis_translit


def _agresso_conditions(
    options: agresso_lg04.AgressoOptions, t: _Text
) -> tuple[list[str], list[str], list[str], list[str]]:
    limits = agresso_lg04.limits(options)
    widths = limits.widths
    line_suspect = [
        *_EVERY_FORMAT_LINE,
        f"abs(l.quantity * 100) >= {limits.quantity}",
        f"abs(l.amount_ore) >= {limits.amount}",
        t.longer_than("l.description", widths["art_descr"]),
    ]
    dimensions = []
    for _slot, key, width, required in limits.dims:
        value = _dimension(key)
        dimensions.append(f"length({value}) > {width}")
        if required:
            dimensions.append(f"{value} = ''")
    line_suspect.append(_unless_own_dimensions_empty(*dimensions))
    line_translit = [
        t.transliterated("l.description"),
        _unless_empty_texts(t.transliterated("l.texts::text")),
    ]
    basis_suspect = [
        "b.unit_id = ANY(%(bad_units)s)",
        "b.period <> %(period)s",
    ]
    if options.customer_mode == "apar_id":
        basis_suspect += [
            "p.customer_number = ''",
            f"length(p.customer_number) > {widths['apar_id']}",
        ]
    basis_translit = [
        t.transliterated("u.name"),
        t.transliterated("p.name"),
        f"({_SOMEONE_ELSE_PAYS} AND {t.transliterated('r.name')})",
    ]
    return line_suspect, line_translit, basis_suspect, basis_translit


def _query(options: Options) -> str:
    t = _text(options.encoding)
    if isinstance(options, visma_file.VismaFileOptions):
        line_suspect, line_translit, basis_suspect, basis_translit = _visma_conditions(options, t)
    else:
        line_suspect, line_translit, basis_suspect, basis_translit = _agresso_conditions(options, t)
    # A basis without lines has no `lines` row: its suspect is then NULL, taken as true.
    basis_suspect.append(f"b.id >= {_LARGEST_PLAIN_ID}")
    # Only names, numbers and the generated conditions are put into the text; values are params.
    return f"""
        WITH sel (id) AS ({{selection}}),
        lines AS (
            SELECT l.basis_id, count(*) AS n,
                   bool_or({_any(line_suspect)}) AS suspect,
                   bool_or({_any(line_translit)}) AS translit
            FROM invoices_invoiceline l
            JOIN invoices_service s ON s.id = l.service_id
            WHERE l.basis_id IN (SELECT id FROM sel)
            GROUP BY l.basis_id
        )
        SELECT b.id, p.national_id, p.org_number, coalesce(lines.n, 0),
               coalesce(lines.suspect, true) OR {_any(basis_suspect)},
               coalesce(lines.translit, false) OR {_any(basis_translit)}
        FROM invoices_invoicebasis b
        JOIN sel ON sel.id = b.id
        JOIN invoices_party p ON p.id = b.payer_id
        JOIN invoices_party r ON r.id = b.recipient_id
        JOIN invoices_unit u ON u.id = b.unit_id
        LEFT JOIN lines ON lines.basis_id = b.id
        ORDER BY b.id
    """  # noqa: S608


# LØPENR counts lines per customer, oppdragsgiver and vare over the whole file; over 99 is an
# error whose place depends on the order of every basis, so such a month takes the reference path.
_RUNNING_NUMBERS = """
    WITH sel (id) AS ({selection})
    SELECT EXISTS (
        SELECT 1
        FROM invoices_invoiceline l
        JOIN invoices_invoicebasis b ON b.id = l.basis_id
        JOIN invoices_party p ON p.id = b.payer_id
        JOIN invoices_service s ON s.id = l.service_id
        WHERE l.basis_id IN (SELECT id FROM sel)
        GROUP BY lpad(coalesce(nullif(p.national_id, ''), p.org_number), 11, '0'),
                 coalesce(nullif(s.visma_oppdragsgiver, ''), %(default_oppdragsgiver)s),
                 s.visma_vare
        HAVING count(*) > %(max_running)s
    )
"""


def _bad_services(selection: Selection, options: Options) -> list[int]:
    """The services whose lines get an error from their mapping alone (the format says which)."""
    module: Any = visma_file if isinstance(options, visma_file.VismaFileOptions) else agresso_lg04
    return [
        pk
        for pk, (code, opp, vare, article, vat, dims) in service_catalogue(
            selection.municipality
        ).items()
        if module.service_problems(
            Line(0, code, "", Decimal(0), 0, 0, opp, vare, article, vat, texts=(), dimensions=dims),
            options,
        )
    ]


def _bad_units(selection: Selection, options: agresso_lg04.AgressoOptions) -> list[int]:
    """Units whose order header text is cut (the reference has the same width for every basis
    the query lets through)."""
    width = agresso_lg04.limits(options).widths["long_info1"]
    reference = basis_reference(selection.municipality.number, 1)
    units = Unit.objects.filter(municipality=selection.municipality)
    return [
        pk
        for pk, code, name in units.values_list("pk", "code", "name")
        if len(
            agresso_lg04.header_text(
                options,
                unit_name=name,
                unit_code=code,
                period=selection.period,
                reference=reference,
            )
        )
        > width
    ]


def _flags(selection: Selection, options: Options) -> list[tuple[int, bool, bool]] | None:
    """(basis id, suspect, transliterated) for every basis of the selection in id order; None
    when only the reference can tell."""
    if not options.include_zero_amount:
        return None
    if (
        isinstance(options, agresso_lg04.AgressoOptions)
        and checks.period_parts(selection.period) is None
    ):
        return None
    sel_sql, sel_params = selection.queryset().order_by().values("pk").query.sql_with_params()
    named = {f"sel_{i}": value for i, value in enumerate(sel_params)}
    # The selection's own placeholders become named ones, so the rest can be named too.
    sel_sql = sel_sql % tuple(f"%(sel_{i})s" for i in range(len(sel_params)))
    params: dict[str, Any] = {**named, "bad_services": _bad_services(selection, options)}
    if isinstance(options, agresso_lg04.AgressoOptions):
        params["bad_units"] = _bad_units(selection, options)
        params["period"] = selection.period
        check_ids = options.customer_mode == "id_in_text"
    else:
        check_ids = True
    with connection.cursor() as cursor:
        cursor.execute(_query(options).replace("{selection}", sel_sql), params)
        rows = cursor.fetchall()
    if isinstance(options, visma_file.VismaFileOptions) and _running_numbers_over(
        rows, sel_sql, named, options
    ):
        return None
    problem = checks.customer_id_problem
    return [
        (
            pk,
            bool(suspect) or (check_ids and bool(problem(nid or org, bool(org)))),
            bool(translit),
        )
        for pk, nid, org, _lines, suspect, translit in rows
    ]


def _running_numbers_over(
    rows: Sequence[tuple[Any, ...]],
    sel_sql: str,
    named: dict[str, Any],
    options: visma_file.VismaFileOptions,
) -> bool:
    """Whether a LØPENR would pass 99. Asked of the database only when some payer has more than
    99 lines in the selection at all."""
    per_payer: dict[str, int] = {}
    for _pk, nid, org, lines, _suspect, _translit in rows:
        key = (nid or org).rjust(11, "0")
        per_payer[key] = per_payer.get(key, 0) + lines
    if max(per_payer.values(), default=0) <= visma_file.MAX_RUNNING_NO:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            _RUNNING_NUMBERS.replace("{selection}", sel_sql),
            {
                **named,
                "default_oppdragsgiver": options.default_oppdragsgiver,
                "max_running": visma_file.MAX_RUNNING_NO,
            },
        )
        (too_many,) = cursor.fetchone()
    return bool(too_many)
