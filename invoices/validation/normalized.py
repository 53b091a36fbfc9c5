"""The normalized result of intake validation: what a valid document becomes, and the SHA-256
that tells a safe retry from a correction."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from decimal import Decimal


@dataclass(slots=True)
class PartyIn:
    national_id: str
    org_number: str
    name: str
    address1: str = ""
    address2: str = ""
    postcode: str = ""
    place: str = ""
    # A payer object is the full truth about the party; a recipient object that names no address
    # only keeps the name current and leaves a known address alone.
    has_address: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.national_id, self.org_number)


@dataclass(slots=True)
class LineIn:
    line_no: int
    service_code: str
    description: str
    quantity: Decimal
    unit_price_ore: int
    amount_ore: int
    service_from: datetime.date | None
    service_to: datetime.date | None
    texts: list[str]
    dimensions: dict[str, str]


@dataclass(slots=True)
class BasisIn:
    index: int
    source_reference: str
    period: str
    unit_code: str
    unit_name: str
    kind: str
    credits: str  # source reference of the credited invoice, "" for invoices
    payer: PartyIn
    recipient: PartyIn
    lines: list[LineIn]
    content_hash: str = ""

    @property
    def total_ore(self) -> int:
        return sum(line.amount_ore for line in self.lines)


def content_hash(basis: BasisIn) -> str:
    """SHA-256 of what becomes the invoice, normalized (spec: "Same content").

    Quantities compare as decimals, a missing optional field equals an empty one. Names and
    addresses of the parties are left out on purpose: they are master data that every delivery
    keeps current, so a new address is stored without turning an approved basis into a conflict.

    The fields are joined with ASCII separator characters, which validation keeps out of every
    value, so the encoding is unambiguous without the cost of a JSON encoder per basis.
    """
    parts = [
        "v2",
        basis.source_reference,
        basis.period,
        basis.unit_code,
        basis.kind,
        basis.credits,
        basis.payer.national_id,
        basis.payer.org_number,
        basis.recipient.national_id,
        basis.recipient.org_number,
    ]
    for line in basis.lines:
        dimensions = line.dimensions
        parts.append(
            "\x1e".join(
                (
                    line.service_code,
                    line.description,
                    str(line.quantity),
                    str(line.unit_price_ore),
                    str(line.amount_ore),
                    line.service_from.isoformat() if line.service_from else "",
                    line.service_to.isoformat() if line.service_to else "",
                    "\x1d".join(line.texts),
                    "\x1d".join(f"{k}\x1c{dimensions[k]}" for k in sorted(dimensions))
                    if dimensions
                    else "",
                )
            )
        )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass
class StoredOriginal:
    id: int
    kind: str
    national_id: str
    org_number: str
