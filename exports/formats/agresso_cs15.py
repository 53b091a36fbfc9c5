"""Agresso / Unit4 (UBW) customer import CS15: one 1608-byte record per distinct payer.

Written before an LG04 file where the site wants customers to exist before their orders arrive.
Each record: full_record 1, change_status I, apar_type R, apar_id = the customer number,
comp_reg_no = fødselsnummer or organisasjonsnummer, control P (person) / C (company), address,
postcode, place, country NO, currency NOK, language NO, status N.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from exports.formats.types import Basis, Customer, Finding, WriteSummary


@dataclass(frozen=True)
class CustomerFileOptions:
    """Invalid values raise ValueError on construction."""

    encoding: Literal["iso-8859-1", "cp1252"] = "iso-8859-1"
    line_ending: Literal["\r\n", "\n"] = "\r\n"
    client: str = ""
    customer_group: str = ""  # apar_gr_id; blank = UBW's parameter value
    pay_method: str = ""


def distinct_payers(bases: Iterable[Basis]) -> Iterator[Customer]:
    """The payers of `bases`, each once (first occurrence wins), in order."""
    raise NotImplementedError


def validate_customers(
    customers: Iterable[Customer], options: CustomerFileOptions
) -> list[Finding]:
    """Errors: missing or too wide customer number, invalid id; warnings as for LG04."""
    raise NotImplementedError


def write_customers(
    customers: Iterable[Customer], options: CustomerFileOptions, out: BinaryIO
) -> WriteSummary:
    """Stream one record per distinct customer (by identifier); `count` = records written."""
    raise NotImplementedError


def read_customers(data: BinaryIO, options: CustomerFileOptions) -> list[Customer]:
    """Parse a CS15 file back into customers; raises ValueError on any structural fault."""
    raise NotImplementedError
