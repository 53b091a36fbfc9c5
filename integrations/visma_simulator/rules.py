"""One `fakturagrunnlag` element (already valid against the XSD): the values the business rules
need, and what "same content" means.

"Same content" (what tells `DUPLIKAT` from `REFERANSE_BRUKT`) compares values after parsing:
numbers as numbers, a missing optional element equal to an empty one, `betform` missing = `BG`,
`internfaktura` missing = false, kontering slots in any order. Most bases are stored once and never
compared, so a basis keeps the bytes it was sent as and is only canonicalized when a referanse
comes back with different bytes. Those bytes are cut straight out of the request body (inside a
wrapper that declares the namespaces in scope) instead of serializing each element again, which
was a third of the simulator's time per call.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from lxml import etree

from integrations.visma.contract import NAMESPACE
from invoices.identifiers import InvalidIdentifier, is_valid_national_id, validate_org_number

from .config import Company
from .soap import secure_parser

_F = "{" + NAMESPACE + "}"


@dataclass(frozen=True)
class Message:
    kode: str
    tekst: str
    felt: str = ""


class ParsedLine(NamedTuple):
    varenr: str
    antall: int  # hundredths: the XSD guarantees exactly two decimals
    pris: int
    belop: int


@dataclass(frozen=True)
class ParsedBasis:
    referanse: str
    oppdragsgiver: str
    kundenr: str
    lines: tuple[ParsedLine, ...]
    belop: int  # sum of the line amounts, øre
    xml: bytes  # the element as sent

    def same_content(self, stored_xml: bytes) -> bool:
        return self.xml == stored_xml or canonical(self.xml) == canonical(stored_xml)


def _hundredths(text: str) -> int:
    return int(text.strip().replace(".", ""))


def parse_basis(element: etree._Element, xml: bytes | None = None) -> ParsedBasis:
    """The values of one `fakturagrunnlag`; `xml` is its text as sent (from `basis_texts`), or
    None to serialize the element."""
    # The XSD fixes the order, and a linje always starts varenr, antall, pris, belop: index
    # access instead of searching keeps this cheap for 200 bases of many lines.
    lines: list[ParsedLine] = []
    referanse = oppdragsgiver = kundenr = ""
    for child in element:
        tag = child.tag
        if tag == _LINJE:
            varenr, antall, pris, belop = child[0], child[1], child[2], child[3]
            lines.append(
                ParsedLine(
                    varenr.text or "",
                    _hundredths(antall.text or ""),
                    int(pris.text or ""),
                    int(belop.text or ""),
                )
            )
        elif tag == _REFERANSE:
            referanse = child.text or ""
        elif tag == _OPPDRAGSGIVER:
            oppdragsgiver = child.text or ""
        elif tag == _KUNDE:
            kundenr = child[0].text or ""
    return ParsedBasis(
        referanse=referanse,
        oppdragsgiver=oppdragsgiver,
        kundenr=kundenr,
        lines=tuple(lines),
        belop=sum(line.belop for line in lines),
        xml=xml if xml is not None else etree.tostring(element, encoding="utf-8", with_tail=False),
    )


_WRAPPER = "innhold"  # never in the target namespace, so never a fakturagrunnlag
_UTF8 = frozenset({"utf-8", "utf8"})


def basis_texts(
    body: bytes, request: etree._Element, elements: Sequence[etree._Element]
) -> list[bytes] | None:
    """Each `fakturagrunnlag` as it appears in `body` (an XSD-valid request), wrapped in an
    element declaring the namespaces in scope, so it parses on its own. None when the cut is
    not certain (another encoding than UTF-8, differing prefixes, look-alike tags): the caller
    then serializes the elements instead."""
    if not elements:
        return []
    encoding = (request.getroottree().docinfo.encoding or "utf-8").lower()
    prefix = elements[0].prefix
    if encoding not in _UTF8 or any(e.prefix != prefix for e in elements):
        return None
    # A look-alike tag in a comment, CDATA or processing instruction adds a start or an end
    # that is not an element, and the counts no longer match: that body is serialized instead.
    # Comments and the like inside a basis are kept in its text; `canonical` ignores them.
    name = ((f"{prefix}:" if prefix else "") + "fakturagrunnlag").encode()
    starts = _find_all(body, b"<" + name, _AFTER_START)
    ends = _find_all(body, b"</" + name, _AFTER_END)
    if len(starts) != len(elements) or len(ends) != len(elements):
        return None
    bounds = list(zip(starts, ends, strict=True))
    if any(s >= e for s, e in bounds) or any(
        e > s_next for (_s, e), (s_next, _e) in itertools.pairwise(bounds)
    ):
        return None
    declarations = " ".join(
        (f"xmlns:{p}" if p else "xmlns") + f'="{_attribute(uri)}"'
        for p, uri in sorted(request.nsmap.items(), key=lambda item: item[0] or "")
    )
    head = f"<{_WRAPPER} {declarations}>".encode()
    tail = f"</{_WRAPPER}>".encode()
    return [head + body[s:e] + tail for s, e in bounds]


_AFTER_START = frozenset(b" \t\r\n>")
_AFTER_END = frozenset(b" \t\r\n>")
_END_TAG_TAIL = re.compile(rb"\s*>")


def _find_all(body: bytes, marker: bytes, after: frozenset[int]) -> list[int]:
    """Where `marker` starts a tag (start tags) or past its `>` (end tags). `bytes.find` rather
    than a regex: the body is large and the markers are few."""
    found: list[int] = []
    closing = marker.startswith(b"</")
    at = body.find(marker)
    while at >= 0:
        stop = at + len(marker)
        if stop < len(body) and body[stop] in after:
            if closing:
                tail = _END_TAG_TAIL.match(body, stop)
                if tail is None:
                    return []
                found.append(tail.end())
            else:
                found.append(at)
        at = body.find(marker, stop)
    return found


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


_LINJE = _F + "linje"
_REFERANSE = _F + "referanse"
_OPPDRAGSGIVER = _F + "oppdragsgiver"
_KUNDE = _F + "kunde"
_LINE_FIELDS = (
    "varenr",
    "antall",
    "pris",
    "belop",
    "mvakode",
    "kontering",
    "profil",
    "internfaktura",
    "tekst",
)
_BASIS_FIELDS = (
    "referanse",
    "kreditnotaFor",
    "periode",
    "kunde",
    "betform",
    "oppdragsgiver",
    "saksnr",
    "deresRef",
    "linje",
)
_KUNDE_FIELDS = ("kundenr", "navn", "adresse1", "adresse2", "postnr", "poststed")
_NAME = {_F + n: n for n in (*_LINE_FIELDS, *_BASIS_FIELDS, *_KUNDE_FIELDS)}


def canonical(xml: bytes) -> dict[str, Any]:
    """The basis's values as the contract compares them."""
    element = etree.fromstring(xml, secure_parser())
    if element.tag == _WRAPPER:
        element = element[0]
    kunde = dict.fromkeys(_KUNDE_FIELDS, "")
    lines: list[dict[str, Any]] = []
    data: dict[str, Any] = {
        "referanse": "",
        "kreditnotaFor": "",
        "periode": "",
        "kunde": kunde,
        "betform": "BG",
        "oppdragsgiver": "",
        "saksnr": "",
        "deresRef": "",
        "linjer": lines,
    }
    for child in element:
        name = _NAME.get(child.tag)
        if name == "linje":
            lines.append(_parse_line(child))
        elif name == "kunde":
            for part in child:
                kunde[_NAME[part.tag]] = part.text or ""
        elif name == "periode":
            data["periode"] = (child.text or "").strip()
        elif name is not None:
            data[name] = child.text or ("BG" if name == "betform" else "")
    return data


def _parse_line(element: etree._Element) -> dict[str, Any]:
    tekst: list[str] = []
    line: dict[str, Any] = {
        "varenr": "",
        "antall": 0,
        "pris": 0,
        "belop": 0,
        "mvakode": "",
        "kontering": {},
        "profil": "",
        "internfaktura": False,
        "tekst": tekst,
    }
    for child in element:
        name = _NAME.get(child.tag)
        text = child.text or ""
        if name == "tekst":
            tekst.append(text)
        elif name == "antall":
            line["antall"] = _hundredths(text)
        elif name == "pris" or name == "belop":
            line[name] = int(text)
        elif name == "kontering":
            line["kontering"] = {str(int(kb.get("nr", "0"))): kb.text for kb in child if kb.text}
        elif name == "internfaktura":
            line["internfaktura"] = text.strip() in ("true", "1")
        elif name is not None:
            line[name] = text
    return line


def expected_belop(antall_hundredths: int, pris: int) -> int:
    """antall × pris rounded to whole øre, ties away from zero."""
    product = antall_hundredths * pris
    whole, rest = divmod(abs(product), 100)
    if rest >= 50:
        whole += 1
    return -whole if product < 0 else whole


def check_basis(company: Company, basis: ParsedBasis, *, allow_synthetic: bool) -> list[Message]:
    """The business rules; the referanse rules (`REFERANSE_BRUKT`) belong to the store."""
    messages: list[Message] = []
    oppdragsgiver = basis.oppdragsgiver
    varer = company.varer.get(oppdragsgiver)
    if varer is None:
        messages.append(
            Message(
                "UKJENT_OPPDRAGSGIVER",
                f"Oppdragsgiver {oppdragsgiver} finnes ikke i selskap {company.selskap}",
                "oppdragsgiver",
            )
        )
    if not _valid_kundenr(basis.kundenr, allow_synthetic=allow_synthetic):
        messages.append(
            Message(
                "UGYLDIG_KUNDENR",
                "Kundenummeret er verken et gyldig fødselsnummer/D-nummer eller "
                "organisasjonsnummer",
                "kunde.kundenr",
            )
        )
    for index, line in enumerate(basis.lines, start=1):
        if varer is not None and line.varenr not in varer:
            messages.append(
                Message(
                    "UKJENT_VARE",
                    f"Vare {line.varenr} finnes ikke under oppdragsgiver {oppdragsgiver}",
                    f"linje[{index}].varenr",
                )
            )
        expected = expected_belop(line.antall, line.pris)
        if line.belop != expected:
            messages.append(
                Message(
                    "BELOP_STEMMER_IKKE",
                    f"Beløp {line.belop} stemmer ikke med antall × pris ({expected})",
                    f"linje[{index}].belop",
                )
            )
    return messages


@functools.lru_cache(maxsize=65536)
def _valid_kundenr(kundenr: str, *, allow_synthetic: bool) -> bool:
    if len(kundenr) == 11:
        return is_valid_national_id(kundenr, allow_synthetic=allow_synthetic)
    try:
        validate_org_number(kundenr)
    except InvalidIdentifier:
        return False
    return True
