"""Agresso / Unit4 (UBW) customer import CS15: one 1608-byte record per distinct payer.

Written before an LG04 file where the site wants customers to exist before their orders arrive.
Each record: full_record 1, change_status I, apar_type R, apar_id = the customer number,
comp_reg_no = fødselsnummer or organisasjonsnummer, control P (person) / C (company), address,
postcode, place, country NO, currency NOK, language NO, status N.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, Literal

from exports.formats import checks
from exports.formats.checks import error, warning
from exports.formats.encoding import SUPPORTED_ENCODINGS, codec
from exports.formats.fixedwidth import (
    FieldOverflow,
    RecordSink,
    RecordWriter,
)
from exports.formats.layout import RecordLayout, load_layout
from exports.formats.types import Basis, Customer, Finding, FormatError, WriteSummary

LAYOUT_FILE = "agresso_cs15.csv"
RECORD_LENGTH = 1608
_SETTINGS = {"client": "client", "customer_group": "apar_gr_id", "pay_method": "pay_method"}
_VARIABLE = (
    "apar_id",
    "apar_name",
    "comp_reg_no",
    "control",
    "address1",
    "address2",
    "place",
    "zip_code",
)


@dataclass(frozen=True)
class CustomerFileOptions:
    """Invalid values raise ValueError on construction."""

    encoding: Literal["iso-8859-1", "cp1252"] = "iso-8859-1"
    line_ending: Literal["\r\n", "\n"] = "\r\n"
    client: str = ""
    customer_group: str = ""  # apar_gr_id; blank = UBW's parameter value
    pay_method: str = ""

    def __post_init__(self) -> None:
        problems = []
        if self.encoding not in SUPPORTED_ENCODINGS:
            problems.append("tegnsett må være iso-8859-1 eller cp1252")
        if self.line_ending not in ("\r\n", "\n"):
            problems.append("linjeskift må være CRLF eller LF")
        layout = record_layout()
        for attr, field_name in _SETTINGS.items():
            width = layout.field(field_name).length
            if len(getattr(self, attr)) > width:
                problems.append(f"{attr} kan være høyst {width} tegn")
        if problems:
            raise ValueError("Ugyldige innstillinger for CS15-fil: " + "; ".join(problems))


def record_layout() -> RecordLayout:
    return load_layout(LAYOUT_FILE, expected_length=RECORD_LENGTH)


def distinct_payers(bases: Iterable[Basis]) -> Iterator[Customer]:
    """The payers of `bases`, each once (first occurrence wins), in order."""
    seen: set[str] = set()
    for basis in bases:
        if basis.payer.identifier not in seen:
            seen.add(basis.payer.identifier)
            yield basis.payer


def _customer_findings(customer: Customer, options: CustomerFileOptions) -> list[Finding]:
    layout = record_layout()
    where = checks.masked(customer)
    findings: list[Finding] = []
    if not customer.customer_number:
        findings.append(
            error(
                "missing_customer_number",
                f"Betaler {where} har ikke kundenummer i Agresso",
                field="customer_number",
            )
        )
    elif not (customer.customer_number.isascii() and customer.customer_number.isdigit()):
        findings.append(
            error(
                "invalid_customer_number",
                f"Kundenummeret til {where} må være bare siffer (apar_id)",
                field="customer_number",
            )
        )
    elif len(customer.customer_number) > layout.field("apar_id").length:
        findings.append(
            error(
                "customer_number_too_wide",
                f"Kundenummeret til {where} er lengre enn {layout.field('apar_id').length} tegn",
                field="customer_number",
            )
        )
    problem = checks.customer_id_problem(customer.identifier, customer.is_organisation)
    if problem:
        findings.append(error("invalid_customer_id", f"{where}: {problem}", field="identifier"))
    if not customer.name.strip():
        findings.append(error("missing_name", f"{where} mangler navn", field="name"))
    if not customer.postcode:
        findings.append(error("missing_postcode", f"{where} mangler postnummer", field="postcode"))
    c = codec(options.encoding)
    for label, field_name, what in (
        ("name", "apar_name", "navnet"),
        ("address1", "address1", "adresselinjen"),
    ):
        value = c.clean(getattr(customer, label))
        width = layout.field(field_name).length
        if len(value) > width:
            findings.append(
                warning(
                    "name_cut" if label == "name" else "address_cut",
                    f"{where}: {what} er kuttet til {width} tegn",
                    field=label,
                )
            )
    texts = (customer.name, customer.address1, customer.address2, customer.place)
    if any(c.needs_transliteration(t) for t in texts):
        findings.append(
            warning(
                "transliterated",
                f"{where}: tegn som {options.encoding} ikke har, er byttet ut i filen",
            )
        )
    return [replace(f, reference=customer.customer_number) for f in findings]


def validate_customers(
    customers: Iterable[Customer], options: CustomerFileOptions
) -> list[Finding]:
    """Errors: missing or too wide customer number, invalid id; warnings as for LG04."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for customer in customers:
        if customer.identifier in seen:
            continue
        seen.add(customer.identifier)
        findings.extend(_customer_findings(customer, options))
    findings.sort(key=lambda f: f.severity != "error")
    return findings


def _values(customer: Customer) -> tuple[Any, ...]:
    return (
        customer.customer_number,
        customer.name,
        customer.identifier,
        "C" if customer.is_organisation else "P",
        customer.address1,
        customer.address2,
        customer.place,
        customer.postcode,
    )


def write_customers(
    customers: Iterable[Customer], options: CustomerFileOptions, out: BinaryIO
) -> WriteSummary:
    """Stream one record per distinct customer (by identifier); `count` = records written.

    Raises FormatError on a blocking error (part of the file may be written).
    """
    c = codec(options.encoding)
    writer = RecordWriter(
        record_layout(),
        c,
        _VARIABLE,
        {
            "full_record": 1,
            "change_status": "I",
            "apar_gr_id": options.customer_group,
            "apar_type": "R",
            "client": options.client,
            "currency": "NOK",
            "language": "NO",
            "pay_method": options.pay_method,
            "status": "N",
            "address_type": 1,
            "country_code": "NO",
        },
    )
    sink = RecordSink(out, c, options.line_ending, chunk=64)
    summary = WriteSummary()
    seen: set[str] = set()
    for customer in customers:
        if customer.identifier in seen:
            continue
        seen.add(customer.identifier)
        findings = _customer_findings(customer, options)
        errors = [f for f in findings if f.severity == "error"]
        if errors:
            raise FormatError(errors)
        summary.warnings.extend(f for f in findings if f.severity == "warning")
        try:
            sink.add(writer.render(_values(customer)))
        except FieldOverflow as exc:
            raise FormatError(
                [error("field_overflow", f"Verdi får ikke plass i filen: {exc}", field=exc.field)]
            ) from exc
        summary.count += 1
    sink.flush()
    summary.records = sink.records
    summary.bytes = sink.bytes
    return summary
