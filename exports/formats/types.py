"""What the format writers take in and give back. Plain data, no Django.

The export service turns database rows into these (chunk by chunk), so the writers never query.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, NamedTuple

Severity = Literal["error", "warning"]
_NO_DIMENSIONS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Customer:
    identifier: str  # 11-digit national id, or 9-digit organisasjonsnummer
    is_organisation: bool
    name: str
    address1: str = ""
    address2: str = ""
    postcode: str = ""
    place: str = ""
    customer_number: str = ""  # UBW apar_id where the municipality references customers by number


class Line(NamedTuple):
    """One invoice line. A named tuple rather than a frozen dataclass: a month has 100 000 of
    them, and a tuple is made in a fraction of the time (`Line._make(values)` from a row)."""

    line_no: int
    service_code: str
    description: str
    quantity: Decimal
    unit_price_ore: int
    amount_ore: int
    # Accounting mapping of the line's service (copied from the catalogue at export time).
    visma_oppdragsgiver: str = ""
    visma_vare: str = ""
    agresso_article: str = ""
    vat_code: str = ""
    service_from: datetime.date | None = None
    service_to: datetime.date | None = None
    texts: tuple[str, ...] = ()
    # Service defaults overlaid with the line's own overrides: {"ansvar": "3100", ...}.
    dimensions: Mapping[str, str] = _NO_DIMENSIONS


@dataclass(frozen=True)
class Basis:
    pk: int
    reference: str  # the stable reference sent to the accounting system (≤ 20 characters)
    source_reference: str
    period: str  # YYYY-MM
    kind: Literal["invoice", "credit"]
    payer: Customer
    recipient: Customer
    unit_code: str
    unit_name: str
    lines: tuple[Line, ...]
    credits_reference: str = ""  # `reference` of the basis a credit note corrects

    @functools.cached_property
    def total_ore(self) -> int:
        # Cached (in the instance dict, which a frozen dataclass allows): the selector, the
        # writer's planner and its summary all ask, and a basis may have 99 lines.
        return sum([line.amount_ore for line in self.lines])


@dataclass(frozen=True, slots=True)  # slots: a month's report can hold 30 000 of them
class Finding:
    """One validation result, shown in the report; errors block the file, warnings do not."""

    code: str  # stable machine word, e.g. "unknown_vare", "amount_too_wide", "transliterated"
    message: str  # Bokmål
    severity: Severity = "error"
    basis_pk: int | None = None
    reference: str = ""
    field: str = ""  # e.g. "lines[0].visma_vare", "payer.postcode"


@dataclass
class WriteSummary:
    """What a writer wrote: the export record stores these."""

    count: int = 0  # invoice bases written
    total_ore: int = 0  # sum of the amounts written
    records: int = 0  # physical lines written
    warnings: list[Finding] = field(default_factory=list)
    bytes: int = 0  # size of what was written
    skipped_pks: list[int] = field(default_factory=list)  # zero-amount bases left out by option
    order_ids: dict[int, int] = field(default_factory=dict)  # basis pk → order id (Agresso LG04)


class FormatError(ValueError):
    """A writer met a blocking problem; nothing it wrote may be used.

    Writers run the same checks as `validate()`, so a caller that validated first only sees this
    for data that changed in between or for a bug. `findings` are the blocking errors.
    """

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        first = findings[0].message if findings else "ukjent feil"
        more = f" (+{len(findings) - 1} til)" if len(findings) > 1 else ""
        super().__init__(first + more)
