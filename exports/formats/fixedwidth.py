"""The one fixed-width writer and the one reader, for every layout.

The field kind decides the padding (see `layout.Kind`). Widths are bytes after encoding: the
encodings are single-byte and every text passes through `Codec.clean()`, so characters are bytes.
A value too wide for a numeric or money field is an error (`FieldOverflow`), never a silent cut;
text is cut to width (the format's validation reports cuts that matter).

Speed: a `RecordWriter` is compiled once per record type into a single `%`-format template in which
constant and blank fields are already rendered, so a record costs one C-level format call plus the
few conversions its kinds need. The finished line is checked (length, no line break) before it
leaves, so no formatting mistake can shift a column unnoticed.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from exports.formats.encoding import Codec
from exports.formats.layout import FieldSpec, Kind, RecordLayout


class FieldOverflow(ValueError):
    """A value does not fit its field (or has the wrong type for it)."""

    def __init__(self, layout: str, field: str, value: object, reason: str) -> None:
        super().__init__(f"{layout}.{field}: {value!r} {reason}")
        self.field = field
        self.value = value
        self.reason = reason


def format_value(spec: FieldSpec, value: object, codec: Codec, layout_name: str = "") -> str:
    """Render one value into its field, strictly; the slow path and the reference for tests."""
    width = spec.length
    if value is None or value == "":
        return " " * width
    kind = spec.kind

    def overflow(reason: str) -> FieldOverflow:
        return FieldOverflow(layout_name, spec.name, value, reason)

    if kind is Kind.TEXT:
        if not isinstance(value, str):
            raise overflow("is not text")
        return codec.clean(value)[:width].ljust(width)
    if kind is Kind.RIGHT:
        text = codec.clean(str(value))
        if len(text) > width:
            raise overflow(f"is wider than {width}")
        return text.rjust(width)
    if kind is Kind.DATE:
        if not isinstance(value, datetime.date):
            raise overflow("is not a date")
        text = value.strftime("%Y%m%d")
        if len(text) > width:
            raise overflow(f"is wider than {width}")
        return text.rjust(width)
    number = _as_int(value)
    if number is None:
        raise overflow("is not a whole number")
    if kind is Kind.NUMBER:
        if number < 0:
            raise overflow("is negative in a field without sign")
        text = f"{number:0{width}d}"
    elif kind is Kind.SIGNED:
        text = f"{number:0{width}d}"
    else:  # SIGN_LAST
        text = f"{abs(number):0{width - 1}d}" + ("-" if number < 0 else " ")
    if len(text) > width:
        raise overflow(f"is wider than {width}")
    return text


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None


class _SignLast:
    """Zero-padded digits, then ' ' or '-' (Visma money)."""

    def __init__(self, width: int) -> None:
        self.width = width

    def __call__(self, value: int) -> str:
        digits = self.width - 1
        if value < 0:
            return f"{-value:0{digits}d}-"
        return f"{value:0{digits}d} "


def _date(width: int) -> Callable[[datetime.date], str]:
    def convert(value: datetime.date) -> str:
        return f"{value.year:04d}{value.month:02d}{value.day:02d}".rjust(width)

    return convert


_INLINE_LITERAL = 16


def _merge_literals(pieces: list[str | tuple[str, int]]) -> list[str | tuple[str, int]]:
    merged: list[str | tuple[str, int]] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


class RecordWriter:
    """Renders one record type of a layout.

    `variable` names the fields filled per record, in the order `render()` takes their values;
    `constants` are rendered once into the template; every other field is blank. Values: `str`
    for text and right-aligned fields, `int` for number/signed/sign-last fields, `date` for dates;
    `None` is not allowed for a variable field (make it a constant "" instead).
    """

    def __init__(
        self,
        layout: RecordLayout,
        codec: Codec,
        variable: Sequence[str],
        constants: Mapping[str, object] | None = None,
    ) -> None:
        self.layout = layout
        self.codec = codec
        self.variable = tuple(variable)
        constants = dict(constants or {})
        unknown = (set(self.variable) | set(constants)) - {f.name for f in layout.fields}
        if unknown:
            raise KeyError(f"{layout.name} has no field(s) {sorted(unknown)}")
        if set(self.variable) & set(constants):
            raise ValueError("a field cannot be both variable and constant")
        position = {name: i for i, name in enumerate(self.variable)}
        # Pieces in layout order: literal text (constants and blanks) or (%-spec, value index).
        pieces: list[str | tuple[str, int]] = []
        self._texts: list[int] = []
        self._numbers: list[int] = []
        self._integers: list[int] = []  # every number, signed and sign-last value: int, not bool
        self._converters: list[tuple[int, Callable[[Any], str]]] = []
        for spec in layout.fields:
            if spec.name in constants:
                pieces.append(format_value(spec, constants[spec.name], codec, layout.name))
                continue
            if spec.name not in position:
                pieces.append(" " * spec.length)
                continue
            index = position[spec.name]
            width = spec.length
            if spec.kind is Kind.TEXT:
                piece = f"%-{width}.{width}s"
                self._texts.append(index)
            elif spec.kind is Kind.RIGHT:
                piece = f"%{width}s"
                self._texts.append(index)
            elif spec.kind in (Kind.NUMBER, Kind.SIGNED):
                piece = f"%0{width}d"
                self._integers.append(index)
                if spec.kind is Kind.NUMBER:
                    self._numbers.append(index)
            elif spec.kind is Kind.SIGN_LAST:
                piece = "%s"
                self._integers.append(index)
                self._converters.append((index, _SignLast(width)))
            else:  # DATE
                piece = "%s"
                self._converters.append((index, _date(width)))
            pieces.append((piece, index))
        self._pieces = _merge_literals(pieces)
        self.length = layout.length
        self._runs: dict[int, Callable[[Sequence[Any], Iterable[Sequence[Any]]], list[str]]] = {}
        self.render: Callable[[Sequence[Any]], str] = self._compile()

    def _compile(self) -> Callable[[Sequence[Any]], str]:
        """Generate `render(values) -> str` for this record type.

        Like `collections.namedtuple` and `dataclasses`, the function is generated once so that a
        record costs one unpack, a few comparisons and one format call: this runs for every line
        of every file. Only indexes and the names bound below appear in the source; no value
        from a layout or a caller does.
        """
        everything = range(len(self.variable))
        src = ["def render(values):", "    try:"]
        src += self._unpack("values", everything, "        ")
        src += self._prepare(everything, "        ")
        src.append(f"        line = {self._format_expression()}")
        src.append("    except (TypeError, ValueError, AttributeError):")
        src.append("        raise diagnose(values) from None")
        src.append(f"    if len(line) != {self.length}:")
        src.append("        raise diagnose(values)")
        src.append("    return line")
        self.source = "\n".join(src)  # kept for debugging and tests
        return self._exec(self.source, "render")  # type: ignore[no-any-return]

    def run_renderer(
        self, shared: int
    ) -> Callable[[Sequence[Any], Iterable[Sequence[Any]]], list[str]]:
        """A generated `render_run(shared_values, rows) -> lines` for records whose first
        `shared` variable values are the same (e.g. the key an LT or an LG04 text line repeats):
        those are checked once, and each row carries only the rest."""
        cached = self._runs.get(shared)
        if cached is not None:
            return cached
        head, tail = range(shared), range(shared, len(self.variable))
        src = ["def render_run(shared, rows):", "    out = []", "    row = None", "    try:"]
        src += self._unpack("shared", head, "        ")
        src += self._prepare(head, "        ")
        src.append("        for row in rows:")
        src += self._unpack("row", tail, "            ")
        src += self._prepare(tail, "            ")
        src.append(f"            line = {self._format_expression()}")
        src.append(f"            if len(line) != {self.length}:")
        src.append("                raise ValueError")
        src.append("            out.append(line)")
        src.append("    except (TypeError, ValueError, AttributeError):")
        src.append("        raise diagnose_run(shared, row) from None")
        src.append("    return out")
        function = self._exec("\n".join(src), "render_run")
        self._runs[shared] = function
        return function  # type: ignore[no-any-return]

    @staticmethod
    def _unpack(source: str, indexes: range, indent: str) -> list[str]:
        if not indexes:
            return []
        return [f"{indent}({', '.join(f'v{i}' for i in indexes)},) = {source}"]

    def _prepare(self, indexes: range, indent: str) -> list[str]:
        """Checks and conversions of the values `indexes`, as source lines."""
        src: list[str] = []
        texts = [i for i in self._texts if i in indexes]
        if texts:
            joined = (
                f"v{texts[0]}"
                if len(texts) == 1
                else f"''.join(({', '.join(f'v{i}' for i in texts)},))"
            )
            # One check over all texts; only a record with something to clean pays per field.
            src.append(f"{indent}texts = {joined}")
            src.append(
                f"{indent}if not (texts.isascii() and texts.isprintable()) and not fits(texts):"
            )
            src += [f"{indent}    v{i} = clean(v{i})" for i in texts]
        # `%d` would write 1.5 (kroner, a Decimal, a float) as 1 and True as 1: refused instead,
        # as `format_value` refuses them. `type(v) is int` costs a few ns per value.
        integers = [i for i in self._integers if i in indexes]
        if integers:
            src.append(f"{indent}if {' or '.join(f'type(v{i}) is not int' for i in integers)}:")
            src.append(f"{indent}    raise TypeError")
        numbers = [i for i in self._numbers if i in indexes]
        if numbers:
            src.append(f"{indent}if {' or '.join(f'v{i} < 0' for i in numbers)}:")
            src.append(f"{indent}    raise ValueError")
        for i, convert in self._converters:
            if i not in indexes:
                continue
            if isinstance(convert, _SignLast):
                # Inline: Visma money is on every FL line.
                digits = convert.width - 1
                src.append(
                    f"{indent}v{i} = '%0{digits}d ' % v{i} if v{i} >= 0 else '%0{digits}d-' % -v{i}"
                )
            else:
                src.append(f"{indent}v{i} = convert_{i}(v{i})")
        return src

    def _format_expression(self) -> str:
        # %-formatting scans its whole format string on every call; long literal runs (an LG04
        # record is mostly blanks) go in as %s arguments instead, which are only copied.
        template: list[str] = []
        args: list[str] = []
        self._literals: dict[str, str] = {}
        for piece in self._pieces:
            if isinstance(piece, tuple):
                template.append(piece[0])
                args.append(f"v{piece[1]}")
            elif len(piece) > _INLINE_LITERAL:
                name = f"literal_{len(self._literals)}"
                self._literals[name] = piece
                template.append("%s")
                args.append(name)
            else:
                template.append(piece.replace("%", "%%"))
        self.template = "".join(template)
        return f"template % ({', '.join(args)},)"

    def _exec(self, source: str, name: str) -> Callable[..., Any]:
        namespace: dict[str, Any] = {
            "fits": self.codec.fits,
            "clean": self.codec.clean,
            "template": self.template,
            "diagnose": self._diagnose,
            "diagnose_run": self._diagnose_run,
            **self._literals,
        }
        namespace.update({f"convert_{i}": convert for i, convert in self._converters})
        exec(source, namespace)  # noqa: S102 - source built from indexes and the names above
        return namespace[name]  # type: ignore[no-any-return]

    def _diagnose_run(self, shared: Sequence[Any], row: Sequence[Any] | None) -> ValueError:
        if row is None:  # the shared values themselves
            return self._diagnose_fields(self.variable[: len(shared)], shared)
        return self._diagnose((*shared, *row))

    def _diagnose(self, values: Sequence[Any]) -> ValueError:
        if len(values) != len(self.variable):
            return ValueError(
                f"{self.layout.name}: {len(values)} values for {len(self.variable)} fields"
            )
        return self._diagnose_fields(self.variable, values)

    def _diagnose_fields(self, names: Sequence[str], values: Sequence[Any]) -> ValueError:
        if len(values) != len(names):
            return ValueError(f"{self.layout.name}: {len(values)} values for {len(names)} fields")
        for name, value in zip(names, values, strict=True):
            spec = self.layout.field(name)
            if value is None:
                return FieldOverflow(self.layout.name, name, value, "is missing")
            try:
                format_value(spec, value, self.codec, self.layout.name)
            except FieldOverflow as exc:
                return exc
        return FieldOverflow(self.layout.name, "?", values, "does not render to the record length")


class RecordSink:
    """Writes records with the line ending, encoded, in chunks (never the whole file at once)."""

    def __init__(self, out: BinaryIO, codec: Codec, line_ending: str, chunk: int = 256) -> None:
        if line_ending not in ("\r\n", "\n"):
            raise ValueError("line ending must be CRLF or LF")
        self._out = out
        self._codec = codec
        self._ending = line_ending
        self._buffer: list[str] = []
        self._chunk = chunk
        self.records = 0
        self.bytes = 0

        # Hot loops add here directly and call `maybe_flush()` now and then.
        self.append = self._buffer.append
        self.extend = self._buffer.extend

    def add(self, line: str) -> None:
        self._buffer.append(line)
        if len(self._buffer) >= self._chunk:
            self.flush()

    def maybe_flush(self) -> None:
        if len(self._buffer) >= self._chunk:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        self._buffer.append("")
        data = self._codec.encode(self._ending.join(self._buffer))
        self._out.write(data)
        self.records += len(self._buffer) - 1
        self.bytes += len(data)
        self._buffer.clear()


def parse_value(spec: FieldSpec, text: str) -> Any:
    """Read one field back; blank numeric and date fields give None."""
    kind = spec.kind
    if kind is Kind.TEXT:
        return text.rstrip(" ")
    if kind is Kind.RIGHT:
        return text.strip(" ")
    stripped = text.strip(" ")
    if not stripped:
        return None
    try:
        if kind is Kind.DATE:
            if len(stripped) != 8 or not stripped.isdigit():
                raise ValueError
            return datetime.date(int(stripped[:4]), int(stripped[4:6]), int(stripped[6:]))
        if kind is Kind.SIGN_LAST:
            digits, sign = text[:-1], text[-1]
            if sign not in " -" or not digits.isdigit():
                raise ValueError
            return -int(digits) if sign == "-" else int(digits)
        if kind is Kind.SIGNED:
            body = text[1:] if text.startswith("-") else text
            if not body.isdigit():
                raise ValueError
            return int(text)
        if not text.isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        raise ValueError(f"field {spec.name}: {text!r} is not a valid {kind.value}") from None


class RecordReader:
    """Parses records of one layout into {field: value}."""

    def __init__(self, layout: RecordLayout, fields: Sequence[str] | None = None) -> None:
        self.layout = layout
        wanted = set(fields) if fields is not None else None
        self._specs = [s for s in layout.fields if wanted is None or s.name in wanted]

    def parse(self, line: str) -> dict[str, Any]:
        if len(line) != self.layout.length:
            raise ValueError(
                f"{self.layout.name}: line is {len(line)} characters, expected {self.layout.length}"
            )
        return {s.name: parse_value(s, line[s.offset : s.end]) for s in self._specs}


def iter_lines(data: BinaryIO, codec: Codec, line_ending: str) -> Iterator[tuple[int, str]]:
    """(line number, text) per record; every record must end with `line_ending`."""
    ending = line_ending.encode("ascii")
    number = 0
    for raw in data:
        number += 1
        if not raw.endswith(ending):
            raise ValueError(f"line {number} does not end with the configured line ending")
        body = raw[: -len(ending)]
        if b"\r" in body:
            raise ValueError(f"line {number} holds a stray carriage return")
        yield number, body.decode(codec.encoding)
