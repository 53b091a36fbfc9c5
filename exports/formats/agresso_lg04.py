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
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO, Literal

from exports.formats.types import Basis, Finding, WriteSummary


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
    order_date: datetime.date = datetime.date(1970, 1, 1)
    include_zero_amount: bool = True  # False: bases whose total is 0 get no order


@dataclass
class ParsedItem:
    line_no: int
    article: str
    description: str
    amount_ore: int
    quantity: Decimal
    dimensions: tuple[str, ...]  # dim_1..dim_7 as written
    tax_code: str
    period: str  # YYYY-MM
    texts: list[str] = field(default_factory=list)


@dataclass
class ParsedOrder:
    order_id: int
    batch_id: str
    client: str
    voucher_type: str
    order_type: str
    pay_method: str
    responsible: str
    responsible2: str
    apar_id: str
    text3: str
    text4: str
    header_text: str
    header_text2: str
    ext_ord_ref: str
    period: str  # YYYY-MM
    order_date: datetime.date | None
    currency: str
    items: list[ParsedItem] = field(default_factory=list)

    @property
    def total_ore(self) -> int:
        return sum(item.amount_ore for item in self.items)


def orders_needed(bases: Iterable[Basis], options: AgressoOptions) -> int:
    """How many order ids `write()` will take for these bases (reserve them beforehand)."""
    raise NotImplementedError


def validate(bases: Iterable[Basis], options: AgressoOptions) -> list[Finding]:
    """Every blocking error and warning the file would have, without writing anything.

    Errors: missing article, missing customer number (apar_id mode) or invalid id (id_in_text
    mode), empty required dimension, values wider than their field, settings wider than their
    field. Warnings: transliterated characters, descriptions and header texts cut to width.
    """
    raise NotImplementedError


def write(
    bases: Iterable[Basis], options: AgressoOptions, out: BinaryIO, order_ids: Iterator[int]
) -> WriteSummary:
    """Stream the file to `out`, one order per basis, taking the next id from `order_ids` each.

    `summary.order_ids` maps basis pk → the order id it got. Raises FormatError on a blocking error
    (part of the file may be written: write to a temporary file) and ValueError when `order_ids`
    runs out.
    """
    raise NotImplementedError


def read(data: BinaryIO, options: AgressoOptions) -> list[ParsedOrder]:
    """Parse a file written with the same layout; raises ValueError on any structural fault."""
    raise NotImplementedError
