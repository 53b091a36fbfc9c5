"""The fixed-width writer and reader at their edges: every refusal's message (the export's error
shows it to billing staff), values exactly at a width, and what the reader accepts as padding."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest

from exports.formats.fixedwidth import (
    FieldOverflow,
    RecordReader,
    RecordSink,
    RecordWriter,
    _SignLast,
    format_value,
    iter_lines,
    parse_value,
)
from exports.formats.layout import FieldSpec, Kind
from tests.export_formats.test_fixedwidth import LATIN1, LAYOUT, _layout, _writer

DAY = datetime.date(2026, 1, 31)


def _spec(kind: Kind, length: int, name: str = "f") -> FieldSpec:
    return FieldSpec(name, 1, length, kind)


def test_field_overflow_names_layout_field_value_and_reason() -> None:
    exc = FieldOverflow("FL", "PRIS", -5, "is negative")
    assert str(exc) == "FL.PRIS: -5 is negative"
    assert (exc.field, exc.value, exc.reason) == ("PRIS", -5, "is negative")


@pytest.mark.parametrize(
    ("kind", "length", "value", "message"),
    [
        (Kind.TEXT, 4, 12, "L.f: 12 is not text"),
        (Kind.RIGHT, 4, "12345", "L.f: '12345' is wider than 4"),
        (Kind.DATE, 8, "20260131", "L.f: '20260131' is not a date"),
        (Kind.DATE, 7, DAY, "L.f: datetime.date(2026, 1, 31) is wider than 7"),
        (Kind.NUMBER, 4, "12", "L.f: '12' is not a whole number"),
        (Kind.NUMBER, 4, True, "L.f: True is not a whole number"),
        (Kind.SIGNED, 4, 1.0, "L.f: 1.0 is not a whole number"),
        (Kind.NUMBER, 4, -1, "L.f: -1 is negative in a field without sign"),
        (Kind.NUMBER, 4, 10000, "L.f: 10000 is wider than 4"),
        (Kind.SIGNED, 4, -1000, "L.f: -1000 is wider than 4"),
        (Kind.SIGN_LAST, 4, -1000, "L.f: -1000 is wider than 4"),
    ],
)
def test_format_value_refusals_say_why(
    kind: Kind, length: int, value: object, message: str
) -> None:
    with pytest.raises(FieldOverflow) as exc:
        format_value(_spec(kind, length), value, LATIN1, "L")
    assert str(exc.value) == message
    assert (exc.value.field, exc.value.value) == ("f", value)


def test_format_value_without_a_layout_name() -> None:
    with pytest.raises(FieldOverflow) as exc:
        format_value(_spec(Kind.TEXT, 4), 12, LATIN1)
    assert str(exc.value) == ".f: 12 is not text"


@pytest.mark.parametrize(
    ("kind", "length", "value", "text"),
    [
        (Kind.RIGHT, 4, "1234", "1234"),
        (Kind.DATE, 8, DAY, "20260131"),
        (Kind.NUMBER, 4, 9999, "9999"),
        (Kind.SIGNED, 4, -999, "-999"),
        (Kind.SIGN_LAST, 4, -999, "999-"),
        (Kind.SIGN_LAST, 4, 0, "000 "),
        (Kind.NUMBER, 4, "", "    "),
        (Kind.DATE, 10, None, "          "),
        (Kind.TEXT, 3, "", "   "),
    ],
)
def test_format_value_fills_a_field_exactly(
    kind: Kind, length: int, value: object, text: str
) -> None:
    assert format_value(_spec(kind, length), value, LATIN1, "L") == text


def test_sign_last_converter_matches_the_reference() -> None:
    # The writer inlines this conversion for speed; the converter is its readable twin and must
    # give the same bytes as format_value (zero is written without a sign).
    spec = _spec(Kind.SIGN_LAST, 6)
    for value in (-12345, -1, 0, 1, 99999):
        assert _SignLast(6)(value) == format_value(spec, value, LATIN1)
    assert [_SignLast(6)(v) for v in (-100, 0, 100)] == ["00100-", "00000 ", "00100 "]


def test_missing_value_is_named() -> None:
    with pytest.raises(FieldOverflow) as exc:
        _writer().render(["a", None, 1, 1, DAY, "x"])
    assert str(exc.value) == "test.number: None is missing"
    assert exc.value.reason == "is missing"


def test_render_refusal_names_the_layout() -> None:
    with pytest.raises(FieldOverflow) as exc:
        _writer().render(["a", 100000, 1, 1, DAY, "x"])
    assert str(exc.value) == "test.number: 100000 is wider than 5"


def test_a_value_every_field_accepts_but_the_record_does_not() -> None:
    # A number in a right-aligned field passes format_value (str()) but not the fast path.
    values = ["a", 1, 1, 1, DAY, 17]
    with pytest.raises(FieldOverflow) as exc:
        _writer().render(values)
    assert str(exc.value) == (
        "test.?: ['a', 1, 1, 1, datetime.date(2026, 1, 31), 17] "
        "does not render to the record length"
    )
    assert (exc.value.field, exc.value.value) == ("?", values)


def test_too_many_shared_values_for_a_run() -> None:
    run = _writer().run_renderer(2)
    with pytest.raises(ValueError) as exc:
        run(("a", 1, 1, 1, DAY, "x", "extra"), [])
    assert str(exc.value) == "test: 7 values for 6 fields"


def test_runs_are_compiled_once_per_shared_count() -> None:
    writer = _writer()
    assert writer.run_renderer(4) is writer.run_renderer(4)
    assert writer.run_renderer(2) is not writer.run_renderer(4)


def test_every_text_field_is_cleaned_not_only_the_first() -> None:
    line = _writer().render(["ab", 1, 1, 1, DAY, "1\n2"])
    assert line[-7:-3] == " 1 2"
    line = _writer().render(["ab", 1, 1, 1, DAY, "Č"])
    assert line[-7:-3] == "   C"


def test_a_single_text_field_is_cleaned() -> None:
    writer = RecordWriter(LAYOUT, LATIN1, ["text"])
    assert writer.render(["a\nb"])[2:8] == "a b   "


def test_long_and_short_constant_runs_render_the_same() -> None:
    layout = _layout(("a", 16, Kind.TEXT), ("b", 1, Kind.NUMBER), ("c", 17, Kind.TEXT))
    writer = RecordWriter(layout, LATIN1, ["b"], {"a": "%" * 16, "c": "x" * 17})
    assert writer.render([7]) == "%" * 16 + "7" + "x" * 17


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (Kind.TEXT, "a\t  ", "a\t"),
        (Kind.RIGHT, " X\t", "X\t"),
        (Kind.DATE, "  20260131", DAY),
        (Kind.SIGN_LAST, "00100-", -100),
        (Kind.SIGN_LAST, "00100 ", 100),
        (Kind.SIGNED, "-00150", -150),
        (Kind.NUMBER, "   ", None),
    ],
)
def test_parse_value_reads_only_spaces_as_padding(kind: Kind, text: str, value: object) -> None:
    assert parse_value(_spec(kind, len(text)), text) == value


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (Kind.NUMBER, "\t\t\t"),
        (Kind.NUMBER, "XXXXX"),
        (Kind.DATE, " 202601011"),
        (Kind.DATE, "2026+131"),
        (Kind.SIGN_LAST, "00100+"),
        (Kind.SIGN_LAST, "00100X"),
        (Kind.SIGNED, "+00150"),
        (Kind.SIGNED, " 00150"),
    ],
)
def test_parse_value_refuses_what_the_writer_never_writes(kind: Kind, text: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_value(_spec(kind, len(text)), text)
    assert str(exc.value) == f"field f: {text!r} is not a valid {kind.value}"


def test_reader_keeps_only_the_fields_asked_for() -> None:
    line = _writer().render(["Åsa", 7, -3, 12345, DAY, "99"])
    assert RecordReader(LAYOUT, ["number", "right"]).parse(line) == {"number": 7, "right": "99"}
    assert RecordReader(LAYOUT, []).parse(line) == {}


def test_reader_names_the_wrong_length() -> None:
    with pytest.raises(ValueError) as exc:
        RecordReader(LAYOUT).parse("x")
    assert str(exc.value) == f"test: line is 1 characters, expected {LAYOUT.length}"


def test_sink_refuses_other_line_endings() -> None:
    with pytest.raises(ValueError) as exc:
        RecordSink(io.BytesIO(), LATIN1, "\r")
    assert str(exc.value) == "line ending must be CRLF or LF"


def test_sink_counts_and_flushes_at_the_chunk_size() -> None:
    out = io.BytesIO()
    sink = RecordSink(out, LATIN1, "\n", chunk=2)
    assert (sink.records, sink.bytes) == (0, 0)
    sink.append("a")
    sink.maybe_flush()
    assert out.getvalue() == b""
    sink.extend(["b"])
    sink.maybe_flush()
    assert out.getvalue() == b"a\nb\n"
    assert (sink.records, sink.bytes) == (2, 4)


def test_sink_default_chunk_is_256_records() -> None:
    out = io.BytesIO()
    sink = RecordSink(out, LATIN1, "\r\n")
    for _ in range(255):
        sink.add("x")
    assert out.getvalue() == b""
    sink.add("x")
    assert out.getvalue() == b"x\r\n" * 256


def test_a_stray_carriage_return_is_refused_with_its_line() -> None:
    with pytest.raises(ValueError) as exc:
        list(iter_lines(io.BytesIO(b"a\nb\rc\n"), LATIN1, "\n"))
    assert str(exc.value) == "line 2 holds a stray carriage return"
    with pytest.raises(ValueError) as exc:
        list(iter_lines(io.BytesIO(b"a\r\nb"), LATIN1, "\r\n"))
    assert str(exc.value) == "line 2 does not end with the configured line ending"


def test_writer_refuses_unknown_and_doubled_fields() -> None:
    with pytest.raises(KeyError) as exc:
        RecordWriter(LAYOUT, LATIN1, ["text", "nope"], {"zzz": 1})
    assert exc.value.args == ("test has no field(s) ['nope', 'zzz']",)
    with pytest.raises(ValueError) as exc2:
        RecordWriter(LAYOUT, LATIN1, ["text"], {"text": "a"})
    assert str(exc2.value) == "a field cannot be both variable and constant"


def test_a_constant_that_does_not_fit_names_the_layout() -> None:
    with pytest.raises(FieldOverflow) as exc:
        RecordWriter(LAYOUT, LATIN1, ["text"], {"number": 123456})
    assert str(exc.value) == "test.number: 123456 is wider than 5"


@pytest.mark.parametrize("position,field", [(1, "number"), (2, "signed"), (3, "money")])
@pytest.mark.parametrize("value", [Decimal("1.5"), 1.5, Decimal("2"), True], ids=repr)
def test_the_fast_path_refuses_what_is_not_a_whole_number(
    position: int, field: str, value: object
) -> None:
    """`%d` would write kroner 1.5 as 1 (the øre lost without a word) and True as 1; the
    writer refuses them as `format_value` does, in a single record and in a run."""
    values: list[object] = ["a", 1, 1, 1, DAY, "x"]
    values[position] = value
    with pytest.raises(FieldOverflow) as exc:
        _writer().render(values)
    assert str(exc.value) == f"test.{field}: {value!r} is not a whole number"
    run = _writer().run_renderer(1)
    with pytest.raises(FieldOverflow) as exc:
        run(("a",), [values[1:]])
    assert str(exc.value) == f"test.{field}: {value!r} is not a whole number"
