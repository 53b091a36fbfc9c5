"""Readers of the files the product writes: each format parsed back into records, so the tests
can check what the writers wrote (round trips, golden files, field-by-field checks). The product
itself never reads its files back; the layouts' own record reader is `exports/formats/fixedwidth`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from exports.formats.agresso_cs15 import _VARIABLE, CustomerFileOptions
from exports.formats.agresso_cs15 import record_layout as cs15_layout
from exports.formats.agresso_lg04 import DIM_SLOTS, TRANS_TYPE, AgressoOptions
from exports.formats.agresso_lg04 import record_layout as lg04_layout
from exports.formats.encoding import codec
from exports.formats.fixedwidth import RecordReader, iter_lines
from exports.formats.types import Customer
from exports.formats.visma_file import VismaFileOptions
from exports.formats.visma_file import record_layout as visma_layout


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


def _quantity(grunnlag: int, options: VismaFileOptions) -> Decimal:
    if options.quantity_decimals == 0:
        return Decimal(grunnlag)
    return Decimal(grunnlag).scaleb(-2)


def read_visma(data: BinaryIO, options: VismaFileOptions) -> ParsedVismaFile:
    """Parse a file written with the same options; raises ValueError on any structural fault."""
    readers = {
        "ST": RecordReader(visma_layout("ST")),
        "FL": RecordReader(visma_layout(options.fl_record)),
        "LT": RecordReader(visma_layout("LT")),
        "SL": RecordReader(visma_layout("SL")),
    }
    parsed: ParsedVismaFile | None = None
    current: ParsedVismaLine | None = None
    current_key: tuple[Any, ...] = ()
    count = 0
    ended = False
    for number, text in iter_lines(data, codec(options.encoding), options.line_ending):
        count += 1
        kind = text[:2]
        if ended:
            raise ValueError(f"line {number}: records after SL")
        if kind not in readers:
            raise ValueError(f"line {number}: unknown record type {kind!r}")
        if (kind == "ST") != (number == 1):
            raise ValueError(f"line {number}: ST must be the first record and only the first")
        try:
            row = readers[kind].parse(text)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if kind == "ST":
            extended = row["FORMAT"] == "U"
            if extended != (options.layout == "extended"):
                raise ValueError("ST.FORMAT does not match the configured layout")
            parsed = ParsedVismaFile(row["REFERANSE"], extended, [], 0)
        elif kind == "FL":
            assert parsed is not None
            price, grunnlag = row["PRIS"], row["GRUNNLAG"]
            quantity = _quantity(grunnlag, options)
            if price < 0:
                price, quantity = -price, -quantity
            current = ParsedVismaLine(
                customer_id=f"{row['KUNDENR']:011d}",
                name=row["NAVN"],
                address1=row["ADRESSE1"],
                address2=row["ADRESSE2"],
                postcode=f"{row['POSTNR']:04d}" if row["POSTNR"] is not None else "",
                oppdragsgiver=f"{row['OPPDRGNR']:03d}",
                vare=f"{row['VARENR']:04d}",
                running_no=row["LOPENR"],
                unit_price_ore=price,
                quantity=quantity,
                amount_ore=row["BELOP"],
                case_no=row["SAKSNR"],
                internal=row.get("INTFAKT", ""),
                kb=tuple(row[f"KB{i:02d}"] for i in range(1, 11)) if extended else (),
                vat_code=row.get("MVAKODE", ""),
                profil=row.get("PROFIL", ""),
                your_ref=row.get("DERESREF", ""),
                order_ref=row.get("ORDREREF", ""),
            )
            current_key = (row["KUNDENR"], row["OPPDRGNR"], row["VARENR"], row["LOPENR"])
            parsed.lines.append(current)
        elif kind == "LT":
            key = (row["KUNDENR"], row["OPPDRGNR"], row["VARENR"], row["LOPENR"])
            if current is None or key != current_key:
                raise ValueError(f"line {number}: LT does not belong to the FL before it")
            if row["LINJENR"] != len(current.texts) + 1:
                raise ValueError(f"line {number}: LT numbers must run 01, 02, … per FL")
            current.texts.append(row["TEKST"])
        else:
            assert parsed is not None
            parsed.record_count = row["ANTPOST"]
            ended = True
            if parsed.record_count != count:
                raise ValueError(f"SL counts {parsed.record_count} records, the file has {count}")
    if parsed is None or not ended:
        raise ValueError("the file has no ST or no SL record")
    return parsed


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


_READ_FIELDS = (
    "accept_flag",
    "batch_id",
    "client",
    "order_id",
    "trans_type",
    "voucher_type",
    "line_no",
    "sequence_no",
    "order_type",
    "pay_method",
    "responsible",
    "responsible2",
    "apar_id",
    "tekst3",
    "tekst4",
    "long_info1",
    "long_info2",
    "ext_ord_ref",
    "period",
    "order_date",
    "currency",
    "article",
    "art_descr",
    "amount",
    "value_1",
    *(f"dim_{i}" for i in range(1, DIM_SLOTS + 1)),
    "tax_code",
    "short_info",
)


def _period_text(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value // 100:04d}-{value % 100:02d}"


def read_agresso(data: BinaryIO, options: AgressoOptions) -> list[ParsedOrder]:
    """Parse a file written with the same layout; raises ValueError on any structural fault."""
    layout = lg04_layout(options.layout)
    classic = layout.has("accept_flag")
    reader = RecordReader(layout, [f for f in _READ_FIELDS if layout.has(f)])
    orders: list[ParsedOrder] = []
    seen: set[int] = set()
    order: ParsedOrder | None = None
    item: ParsedItem | None = None
    for number, line in iter_lines(data, codec(options.encoding), options.line_ending):
        try:
            row = reader.parse(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if row["trans_type"] != TRANS_TYPE:
            raise ValueError(f"line {number}: trans_type {row['trans_type']!r} is not 42")
        is_header = row["line_no"] == 0
        if classic and (row["accept_flag"] == 1) != is_header:
            raise ValueError(f"line {number}: accept_flag must be 1 on headers only")
        if is_header:
            order_id = row["order_id"]
            if order_id in seen:
                raise ValueError(f"line {number}: order id {order_id} appears twice")
            seen.add(order_id)
            order = ParsedOrder(
                order_id=order_id,
                batch_id=row["batch_id"],
                client=row["client"],
                voucher_type=row["voucher_type"],
                order_type=row["order_type"],
                pay_method=row["pay_method"],
                responsible=row["responsible"],
                responsible2=row["responsible2"],
                apar_id=row["apar_id"],
                text3=row["tekst3"],
                text4=row["tekst4"],
                header_text=row["long_info1"],
                header_text2=row["long_info2"],
                ext_ord_ref=row["ext_ord_ref"],
                period=_period_text(row["period"]),
                order_date=row["order_date"],
                currency=row["currency"],
            )
            orders.append(order)
            item = None
            continue
        if order is None:
            raise ValueError(f"line {number}: a line before the first order header")
        for key in ("order_id", "batch_id", "client", "voucher_type"):
            if row[key] != getattr(order, key):
                raise ValueError(f"line {number}: {key} differs from its order header")
        if row["sequence_no"] == 0:
            if row["line_no"] != len(order.items) + 1:
                raise ValueError(f"line {number}: item lines must be numbered 1, 2, … per order")
            item = ParsedItem(
                line_no=row["line_no"],
                article=row["article"],
                description=row["art_descr"],
                amount_ore=row["amount"],
                quantity=Decimal(row["value_1"]).scaleb(-2),
                dimensions=tuple(row[f"dim_{i}"] for i in range(1, DIM_SLOTS + 1)),
                tax_code=row["tax_code"],
                period=_period_text(row["period"]),
            )
            order.items.append(item)
        else:
            if item is None or row["line_no"] != item.line_no:
                raise ValueError(f"line {number}: a text line must follow its item line")
            if row["sequence_no"] != len(item.texts) + 1:
                raise ValueError(f"line {number}: text lines must be numbered 1, 2, … per item")
            item.texts.append(row["short_info"])
    return orders


def read_customers(data: BinaryIO, options: CustomerFileOptions) -> list[Customer]:
    """Parse a CS15 file back into customers; raises ValueError on any structural fault."""
    reader = RecordReader(cs15_layout(), [*_VARIABLE, "full_record", "change_status", "apar_type"])
    customers: list[Customer] = []
    for number, line in iter_lines(data, codec(options.encoding), options.line_ending):
        try:
            row = reader.parse(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if row["full_record"] != 1 or row["change_status"] != "I" or row["apar_type"] != "R":
            raise ValueError(f"line {number}: not a full customer insert record")
        if row["control"] not in ("P", "C"):
            raise ValueError(f"line {number}: control must be P or C")
        customers.append(
            Customer(
                identifier=row["comp_reg_no"],
                is_organisation=row["control"] == "C",
                name=row["apar_name"],
                address1=row["address1"],
                address2=row["address2"],
                postcode=row["zip_code"],
                place=row["place"],
                customer_number=row["apar_id"],
            )
        )
    return customers
