"""The one writer and reader: padding by kind, overflow is an error, line breaks become spaces."""

from __future__ import annotations

import datetime
import io

import pytest

from exports.formats.encoding import codec
from exports.formats.fixedwidth import (
    FieldOverflow,
    RecordReader,
    RecordSink,
    RecordWriter,
    format_value,
    iter_lines,
)
from exports.formats.layout import FieldSpec, Kind, RecordLayout

LATIN1 = codec("iso-8859-1")


def _layout(*fields: tuple[str, int, Kind]) -> RecordLayout:
    specs, start = [], 1
    for name, length, kind in fields:
        specs.append(FieldSpec(name, start, length, kind))
        start += length
    return RecordLayout("test", tuple(specs), start - 1)


LAYOUT = _layout(
    ("kind", 2, Kind.TEXT),
    ("text", 6, Kind.TEXT),
    ("number", 5, Kind.NUMBER),
    ("signed", 6, Kind.SIGNED),
    ("money", 6, Kind.SIGN_LAST),
    ("date", 10, Kind.DATE),
    ("right", 4, Kind.RIGHT),
    ("unused", 3, Kind.NUMBER),
)
FIELDS = ["text", "number", "signed", "money", "date", "right"]


def _writer() -> RecordWriter:
    return RecordWriter(LAYOUT, LATIN1, FIELDS, {"kind": "XX"})


def test_padding_by_kind() -> None:
    line = _writer().render(["Blåbær", 42, -150, -100, datetime.date(2026, 1, 31), "17"])
    assert line == "XX" + "Blåbær" + "00042" + "-00150" + "00100-" + "  20260131" + "  17" + "   "
    line = _writer().render(["ab", 0, 150, 2340, datetime.date(2026, 1, 31), ""])
    assert line[2:8] == "ab    "
    assert line[8:13] == "00000"
    assert line[13:19] == "000150"
    assert line[19:25] == "02340 "


def test_text_is_cut_line_breaks_become_spaces_and_letters_are_fitted() -> None:
    line = _writer().render(["a\r\nb\tcdefgh", 1, 1, 1, datetime.date(2026, 1, 1), "x"])
    assert line[2:8] == "a b cd"
    line = _writer().render(["Čŋ“x”", 1, 1, 1, datetime.date(2026, 1, 1), "x"])
    assert line[2:8] == 'Cn"x" '
    assert len(line) == LAYOUT.length


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (["a", 100000, 1, 1, datetime.date(2026, 1, 1), "x"], "number"),
        (["a", -1, 1, 1, datetime.date(2026, 1, 1), "x"], "number"),
        (["a", 1, -100000, 1, datetime.date(2026, 1, 1), "x"], "signed"),
        (["a", 1, 1, 100000, datetime.date(2026, 1, 1), "x"], "money"),
        (["a", 1, 1, -100000, datetime.date(2026, 1, 1), "x"], "money"),
        (["a", 1, 1, 1, datetime.date(2026, 1, 1), "12345"], "right"),
        (["a", "12", 1, 1, datetime.date(2026, 1, 1), "x"], "number"),
        (["a", 1, 1, 1, "20260101", "x"], "date"),
        ([None, 1, 1, 1, datetime.date(2026, 1, 1), "x"], "text"),
    ],
)
def test_values_that_do_not_fit_are_errors(values: list[object], field: str) -> None:
    with pytest.raises(FieldOverflow) as exc:
        _writer().render(values)
    assert exc.value.field == field


def test_wrong_number_of_values() -> None:
    with pytest.raises(ValueError, match="values for"):
        _writer().render(["a"])


def test_format_value_matches_render_and_reader_reads_back() -> None:
    values = ["Åsa", 7, -3, 12345, datetime.date(2030, 12, 1), "99"]
    line = _writer().render(values)
    for name, value in zip(FIELDS, values, strict=True):
        spec = LAYOUT.field(name)
        assert line[spec.offset : spec.end] == format_value(spec, value, LATIN1)
    row = RecordReader(LAYOUT).parse(line)
    assert row == {
        "kind": "XX",
        "text": "Åsa",
        "number": 7,
        "signed": -3,
        "money": 12345,
        "date": datetime.date(2030, 12, 1),
        "right": "99",
        "unused": None,
    }


def test_reader_rejects_wrong_length_and_bad_numbers() -> None:
    reader = RecordReader(LAYOUT)
    line = _writer().render(["a", 1, 1, 1, datetime.date(2026, 1, 1), "x"])
    with pytest.raises(ValueError, match="expected"):
        reader.parse(line + " ")
    with pytest.raises(ValueError, match="number"):
        reader.parse(line[:8] + "00a01" + line[13:])


def test_constants_may_not_overflow_either() -> None:
    with pytest.raises(FieldOverflow):
        RecordWriter(LAYOUT, LATIN1, ["text"], {"number": 123456})
    with pytest.raises(KeyError):
        RecordWriter(LAYOUT, LATIN1, ["nope"])


def test_sink_writes_in_chunks_with_line_endings() -> None:
    out = io.BytesIO()
    sink = RecordSink(out, LATIN1, "\r\n", chunk=2)
    for text in ("æ", "b", "c"):
        sink.add(text)
    assert out.getvalue() == "æ\r\nb\r\n".encode("latin-1")
    sink.flush()
    assert out.getvalue() == "æ\r\nb\r\nc\r\n".encode("latin-1")
    assert (sink.records, sink.bytes) == (3, 9)
    lines = list(iter_lines(io.BytesIO(out.getvalue()), LATIN1, "\r\n"))
    assert lines == [(1, "æ"), (2, "b"), (3, "c")]
    with pytest.raises(ValueError, match="line ending"):
        list(iter_lines(io.BytesIO(b"a\r\nb"), LATIN1, "\r\n"))
    with pytest.raises(ValueError, match="line ending"):
        list(iter_lines(io.BytesIO(b"a\nb\n"), LATIN1, "\r\n"))


def test_runs_share_leading_values_and_fail_like_single_records() -> None:
    writer = _writer()
    run = writer.run_renderer(4)
    shared = ("Æ\nb", 42, -150, -100)
    rows = [(datetime.date(2026, 1, 31), "1"), (datetime.date(2026, 2, 1), "22")]
    assert run(shared, rows) == [writer.render((*shared, *row)) for row in rows]
    assert run(shared, []) == []
    with pytest.raises(FieldOverflow) as exc:
        run(shared, [(datetime.date(2026, 1, 31), "1"), (datetime.date(2026, 1, 31), "12345")])
    assert exc.value.field == "right"
    with pytest.raises(FieldOverflow) as exc:
        run(("a", -1, 0, 0), rows)
    assert exc.value.field == "number"


def test_generated_source_holds_no_values() -> None:
    writer = RecordWriter(LAYOUT, LATIN1, FIELDS, {"kind": "Z%"})
    assert "Z" not in writer.source  # constants live in the template, escaped
    assert writer.render(["a", 1, 1, 1, datetime.date(2026, 1, 1), "x"]).startswith("Z%")
