"""One `fakturagrunnlag` element (already valid against the XSD): its content and the business
rules the service applies to it.

"Same content" (what tells `DUPLIKAT` from `REFERANSE_BRUKT`) compares values after parsing:
numbers as numbers, a missing optional element equal to an empty one, `betform` missing = `BG`,
`internfaktura` missing = false, kontering slots in any order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lxml import etree

from invoices.identifiers import InvalidIdentifier, is_valid_national_id, validate_org_number

from .config import Company

NAMESPACE = "urn:kommune-fakturering:fakturering-ws:1"
_F = "{" + NAMESPACE + "}"
_TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Message:
    kode: str
    tekst: str
    felt: str = ""


@dataclass(frozen=True)
class ParsedBasis:
    referanse: str
    content: str  # canonical JSON: equal strings ⇔ same content
    belop: int  # sum of the line amounts, øre
    data: dict[str, Any]


def _local(tag: str) -> str:
    return tag[len(_F) :] if tag.startswith(_F) else tag


def _boolean(text: str) -> bool:
    return text.strip() in ("true", "1")


def _antall(text: str) -> str:
    value = Decimal(text.strip()).quantize(_TWO_PLACES)
    return f"{value.copy_abs() if value.is_zero() else value:f}"


def parse_basis(element: etree._Element) -> ParsedBasis:
    data: dict[str, Any] = {
        "referanse": "",
        "kreditnotaFor": "",
        "periode": "",
        "kunde": {
            "kundenr": "",
            "navn": "",
            "adresse1": "",
            "adresse2": "",
            "postnr": "",
            "poststed": "",
        },
        "betform": "BG",
        "oppdragsgiver": "",
        "saksnr": "",
        "deresRef": "",
        "linjer": [],
    }
    for child in element:
        name = _local(child.tag)
        if name == "kunde":
            for part in child:
                data["kunde"][_local(part.tag)] = part.text or ""
        elif name == "linje":
            data["linjer"].append(_parse_line(child))
        elif name == "periode":
            data["periode"] = (child.text or "").strip()
        elif name == "betform":
            data["betform"] = child.text or "BG"
        else:
            data[name] = child.text or ""
    belop = sum(line["belop"] for line in data["linjer"])
    content = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return ParsedBasis(referanse=data["referanse"], content=content, belop=belop, data=data)


def _parse_line(element: etree._Element) -> dict[str, Any]:
    line: dict[str, Any] = {
        "varenr": "",
        "antall": "0.00",
        "pris": 0,
        "belop": 0,
        "mvakode": "",
        "kontering": {},
        "profil": "",
        "internfaktura": False,
        "tekst": [],
    }
    for child in element:
        name = _local(child.tag)
        text = child.text or ""
        if name == "antall":
            line["antall"] = _antall(text)
        elif name in ("pris", "belop"):
            line[name] = int(text.strip())
        elif name == "internfaktura":
            line["internfaktura"] = _boolean(text)
        elif name == "tekst":
            line["tekst"].append(text)
        elif name == "kontering":
            line["kontering"] = {
                str(int(kb.get("nr", "0").strip())): kb.text for kb in child if kb.text
            }
        else:
            line[name] = text
    return line


def expected_belop(antall: str, pris: int) -> int:
    """antall × pris rounded to whole øre, ties away from zero."""
    return int((Decimal(antall) * pris).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def check_basis(company: Company, basis: ParsedBasis, *, allow_synthetic: bool) -> list[Message]:
    """The business rules; the referanse rules (`REFERANSE_BRUKT`) belong to the store."""
    data = basis.data
    messages: list[Message] = []
    oppdragsgiver = data["oppdragsgiver"]
    varer = company.varer.get(oppdragsgiver)
    if varer is None:
        messages.append(
            Message(
                "UKJENT_OPPDRAGSGIVER",
                f"Oppdragsgiver {oppdragsgiver} finnes ikke i selskap {company.selskap}",
                "oppdragsgiver",
            )
        )
    kundenr = data["kunde"]["kundenr"]
    if not _valid_kundenr(kundenr, allow_synthetic=allow_synthetic):
        messages.append(
            Message(
                "UGYLDIG_KUNDENR",
                "Kundenummeret er verken et gyldig fødselsnummer/D-nummer eller "
                "organisasjonsnummer",
                "kunde.kundenr",
            )
        )
    for index, line in enumerate(data["linjer"], start=1):
        if varer is not None and line["varenr"] not in varer:
            messages.append(
                Message(
                    "UKJENT_VARE",
                    f"Vare {line['varenr']} finnes ikke under oppdragsgiver {oppdragsgiver}",
                    f"linje[{index}].varenr",
                )
            )
        expected = expected_belop(line["antall"], line["pris"])
        if line["belop"] != expected:
            messages.append(
                Message(
                    "BELOP_STEMMER_IKKE",
                    f"Beløp {line['belop']} stemmer ikke med antall × pris ({expected})",
                    f"linje[{index}].belop",
                )
            )
    return messages


def _valid_kundenr(kundenr: str, *, allow_synthetic: bool) -> bool:
    if len(kundenr) == 11:
        return is_valid_national_id(kundenr, allow_synthetic=allow_synthetic)
    try:
        validate_org_number(kundenr)
    except InvalidIdentifier:
        return False
    return True
