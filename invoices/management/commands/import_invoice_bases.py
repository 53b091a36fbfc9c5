"""`manage.py import_invoice_bases FILE.json`: an intake document from a file (spec/intake.md).

The municipality comes from the file and must exist. The `invoice_bases` array is streamed, never
loaded whole, and stored in chunks of 5 000 through the same intake as the API: each chunk is
all-or-nothing and gets its own line in the report. The command exits non-zero if any chunk (or
the file itself) failed; chunks before a failure stay stored, and running the same file again
stores nothing twice.

The API's rules hold here too: a key twice in one object of a basis refuses that basis's chunk
(`duplicate_key`, naming the place), and a key twice at the top (`municipality` twice) refuses
the whole file before anything is stored. Control and format characters are the validator's, as
for the API.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import jsonparse
from invoices.intake import (
    CHUNK_SIZE,
    IntakeError,
    IntakeRejected,
    IntakeResult,
    find_municipality,
    intake_bases,
)
from invoices.models import Municipality
from invoices.validation import basis_duplicate_issues, echo

READ_SIZE = 1 << 20
# One basis is at most 99 lines of 99 short texts; anything bigger than this is not a basis but a
# broken file, and must not make the reader swallow the rest of it.
MAX_VALUE_CHARS = 16 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class DocumentError(ValueError):
    """The file is not a readable intake document; `message` is Bokmål."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TopLevelDuplicate(DocumentError):
    """A key twice at the top of the document."""


class Duplicated:
    """A value with a key twice in one of its objects, read with `jsonparse.mark_duplicates`."""

    def __init__(self, value: Any) -> None:
        self.value = value


_decoder = json.JSONDecoder(
    parse_constant=jsonparse.refuse_constant, object_pairs_hook=jsonparse.refuse_duplicates
)
_marking_decoder = json.JSONDecoder(
    parse_constant=jsonparse.refuse_constant, object_pairs_hook=jsonparse.mark_duplicates
)
# For values only skipped over: Python's own dicts, the quickest read there is.
_skipping_decoder = json.JSONDecoder(parse_constant=jsonparse.refuse_constant)


class JsonStream:
    """Reads one JSON document from a text file piece by piece, with bounded memory.

    Values are decoded with `JSONDecoder.raw_decode` from a buffer that is refilled as needed; a
    value cut by the buffer's end is decoded again once more text has arrived.
    """

    def __init__(
        self, fp: TextIO, read_size: int = READ_SIZE, decoder: json.JSONDecoder = _decoder
    ) -> None:
        self.fp = fp
        self.decoder = decoder
        self.read_size = read_size
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the front of the buffer
        self.eof = False

    def _more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.fp.read(self.read_size)
        except UnicodeDecodeError as exc:
            raise DocumentError("Filen er ikke gyldig UTF-8") from exc
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def where(self) -> str:
        return f"tegn {self.consumed + self.pos + 1}"

    def peek(self) -> str:
        """The next non-blank character ("" at the end), without consuming it."""
        while True:
            match = _WHITESPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise DocumentError(
                f"Ugyldig JSON ved {self.where()}: forventet «{char}», fant «{found or 'slutt'}»"
            )
        self.pos += 1

    def value(self) -> Any:
        """The next value; a `Duplicated` if one of its objects has a key twice."""
        if not self.peek():
            raise DocumentError(f"Filen slutter midt i dokumentet ({self.where()})")
        decoder = self.decoder
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except jsonparse.DuplicateKey:
                decoder = _marking_decoder  # read it again, to say where
                continue
            except jsonparse.NotJson as exc:
                raise DocumentError(f"Ugyldig JSON ved {self.where()}: {exc}") from exc
            except (json.JSONDecodeError, RecursionError) as exc:
                if len(self.buf) - self.pos < MAX_VALUE_CHARS and self._more():
                    continue
                detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "for dyp nesting"
                raise DocumentError(f"Ugyldig JSON ved {self.where()}: {detail}") from exc
            # A number at the very end of the buffer may go on in the next piece.
            if end == len(self.buf) and self._more():
                continue
            self.pos = end
            return Duplicated(value) if decoder is _marking_decoder else value

    def members(self) -> Iterator[str]:
        """The keys of the top-level object; the caller reads or skips each value. A key twice
        is the end of the document (which of the two would count?)."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        seen: set[str] = set()
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise DocumentError(f"Ugyldig JSON ved {self.where()}: forventet et feltnavn")
            if key in seen:
                raise TopLevelDuplicate(
                    f"Feltet «{echo(key, 40)}» står to ganger i dokumentet; bare én verdi kan "
                    "gjelde [duplicate_key]"
                )
            seen.add(key)
            self.expect(":")
            yield key
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            break
        if self.peek():
            raise DocumentError(f"Uventet innhold etter dokumentet ({self.where()})")

    def items(self) -> Iterator[Any]:
        """The elements of the array that starts here."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("]")
            return


def read_municipality(path: Path) -> Any:
    """The document's `municipality`, wherever it stands among the top-level fields.

    The whole top level is read, so that a second `municipality` after the bases refuses the
    file before a chunk is stored. A file that breaks off is left to the import to report: the
    chunks before the break are stored, as always."""
    municipality = None
    with open(path, encoding="utf-8-sig") as fp:
        stream = JsonStream(fp, decoder=_skipping_decoder)
        try:
            for key in stream.members():
                if key == "municipality":
                    municipality = stream.value()
                elif key == "invoice_bases":
                    for _basis in stream.items():
                        pass
                else:
                    stream.value()
        except TopLevelDuplicate:
            raise
        except DocumentError:
            if municipality is None:
                raise
    if isinstance(municipality, Duplicated):
        return municipality.value
    return municipality


def iter_bases(path: Path) -> Iterator[Any]:
    with open(path, encoding="utf-8-sig") as fp:
        stream = JsonStream(fp)
        seen = False
        for key in stream.members():
            if key == "invoice_bases":
                if seen:
                    raise DocumentError("Filen har feltet invoice_bases to ganger")
                seen = True
                yield from stream.items()
            elif key == "municipality":
                stream.value()
            else:
                raise DocumentError(f"Feltet «{echo(key, 40)}» er ukjent")
        if not seen:
            raise DocumentError("Filen mangler feltet invoice_bases")


def chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Command(BaseCommand):
    help = "Les inn fakturagrunnlag fra en JSON-fil (samme format og kontroll som API-et)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="intake-dokument (JSON, UTF-8)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"Finner ikke filen {path}")
        try:
            municipality = find_municipality({"municipality": read_municipality(path)})
        except DocumentError as exc:
            raise CommandError(exc.message) from exc
        except IntakeError as exc:
            raise CommandError(exc.errors[0].message) from exc

        self.stdout.write(f"Kommune {municipality}: leser {path.name}")
        # The heap built so far (Django, the apps) is not garbage; frozen, the collector does not
        # rescan it for every chunk of freshly parsed bases.
        gc.freeze()
        try:
            failed, offset, totals = self._import(path, municipality)
        finally:
            gc.unfreeze()
        self.stdout.write(
            f"Totalt: {totals.created} nye, {totals.updated} endret, {totals.unchanged} uendret "
            f"av {offset} lest"
        )
        if failed:
            raise CommandError(
                f"{failed} del(er) ble ikke lagret; rett feilene og kjør filen på nytt "
                "(det som er lagret, lagres ikke to ganger)"
            )

    def _import(self, path: Path, municipality: Municipality) -> tuple[int, int, IntakeResult]:
        totals = IntakeResult()
        failed = offset = 0
        seen: set[str] = set()
        try:
            for number, chunk in enumerate(chunks(iter_bases(path), CHUNK_SIZE), start=1):
                label = f"Del {number} (grunnlag {offset}–{offset + len(chunk) - 1})"
                duplicates = [
                    issue
                    for i, basis in enumerate(chunk)
                    if isinstance(basis, Duplicated)
                    for issue in basis_duplicate_issues(basis.value, offset + i)
                ]
                chunk = [b.value if isinstance(b, Duplicated) else b for b in chunk]
                try:
                    if duplicates:
                        raise IntakeRejected(duplicates)
                    result = intake_bases(
                        municipality,
                        chunk,
                        source=f"file:{path.name}",
                        index_offset=offset,
                        earlier_references=seen,
                    )
                except IntakeError as exc:
                    failed += 1
                    self._report_failure(label, exc)
                else:
                    totals.add(result)
                    self.stdout.write(
                        f"{label}: {result.created} nye, {result.updated} endret, "
                        f"{result.unchanged} uendret"
                    )
                seen.update(
                    b["source_reference"]
                    for b in chunk
                    if isinstance(b, dict) and isinstance(b.get("source_reference"), str)
                )
                offset += len(chunk)
        except DocumentError as exc:
            self.stderr.write(f"Filen kan ikke leses videre etter grunnlag {offset}: {exc.message}")
            failed += 1
        return failed, offset, totals

    def _report_failure(self, label: str, exc: IntakeError) -> None:
        what = "konflikt" if exc.status == 409 else "avvist"
        self.stderr.write(
            f"{label}: {what}, ingenting fra denne delen er lagret ({len(exc.errors)} feil)"
        )
        for issue in exc.errors:
            self.stderr.write(f"  {issue.as_text()}")
