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

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO, Literal

from exports.formats.types import Basis, Finding, WriteSummary


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


@dataclass
class ParsedVismaLine:
    """One FL record and its LT texts, as read back from a file (quantities signed again)."""

    customer_id: str  # KUNDENR as written (11 digits)
    name: str
    address1: str
    address2: str
    postcode: str
    oppdragsgiver: str
    vare: str
    running_no: int
    unit_price_ore: int
    quantity: Decimal
    amount_ore: int
    case_no: str = ""
    internal: str = ""
    kb: tuple[str, ...] = ()
    vat_code: str = ""
    profil: str = ""
    your_ref: str = ""
    order_ref: str = ""
    texts: list[str] = field(default_factory=list)


@dataclass
class ParsedVismaFile:
    reference_text: str
    extended: bool
    lines: list[ParsedVismaLine]
    record_count: int  # SL.ANTPOST

    @property
    def total_ore(self) -> int:
        return sum(line.amount_ore for line in self.lines)


def validate(bases: Iterable[Basis], options: VismaFileOptions) -> list[Finding]:
    """Every blocking error and warning the file would have, without writing anything.

    Errors: missing/invalid oppdragsgiver or vare, invalid customer id, missing postcode, amounts
    or quantities too wide, fractional quantity with whole units, more than 99 running numbers or
    text lines. Warnings: transliterated characters, names/addresses cut to width.
    """
    raise NotImplementedError


def write(bases: Iterable[Basis], options: VismaFileOptions, out: BinaryIO) -> WriteSummary:
    """Stream the file to `out`, record by record; raises FormatError on a blocking error.

    On FormatError part of the file may already be written: write to a temporary file and discard
    it then. The summary's warnings are those `validate()` reports.
    """
    raise NotImplementedError


def read(data: BinaryIO, options: VismaFileOptions) -> ParsedVismaFile:
    """Parse a file written with the same options; raises ValueError on any structural fault."""
    raise NotImplementedError
