"""SOAP 1.1 on the simulator's side: reading requests safely, writing replies and faults.

Requests are parsed with DTDs, entities and network access refused, and any DOCTYPE is rejected
outright; the operation element is then validated against the bundled XSD.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from integrations.visma.contract import MAX_BASES_PER_CALL as MAX_BASES
from integrations.visma.contract import NAMESPACE, SOAP_ENV, XSD_PATH

OPERATIONS = ("Ping", "SendFakturagrunnlag", "HentStatus")

_F = "{" + NAMESPACE + "}"
_NSMAP = {"soap": SOAP_ENV, "f": NAMESPACE}


class SoapFault(Exception):
    """Answered as a SOAP fault with HTTP 500."""

    def __init__(self, side: str, kode: str, tekst: str) -> None:
        super().__init__(tekst)
        self.side = side  # "Client" or "Server"
        self.kode = kode
        self.tekst = tekst


def client_fault(kode: str, tekst: str) -> SoapFault:
    return SoapFault("Client", kode, tekst)


# lxml parsers and schema validators keep per-call state (error logs): one per thread.
_local = threading.local()


def secure_parser() -> etree.XMLParser:
    """This thread's parser: no DTDs, no entities, no network, no huge trees."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def _schema(path: Path = XSD_PATH) -> etree.XMLSchema:
    schema = getattr(_local, "schema", None)
    if schema is None:
        schema = etree.XMLSchema(etree.parse(str(path), secure_parser()))
        _local.schema = schema
    return schema


def parse_request(body: bytes, soap_action: str | None) -> tuple[str, etree._Element]:
    """The operation name and its (XSD-valid) request element, or a Client fault."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise client_fault("UGYLDIG_FORESPORSEL", "DOCTYPE og entiteter er ikke tillatt")
    try:
        root = etree.fromstring(body, secure_parser())
    except etree.XMLSyntaxError as exc:
        raise client_fault("UGYLDIG_FORESPORSEL", f"Ugyldig XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise client_fault("UGYLDIG_FORESPORSEL", "DOCTYPE og entiteter er ikke tillatt")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise client_fault("UGYLDIG_FORESPORSEL", "Forventet en SOAP 1.1-konvolutt")
    children = [c for c in root if isinstance(c.tag, str)]
    if children and children[0].tag == f"{{{SOAP_ENV}}}Header":
        children = children[1:]
    if len(children) != 1 or children[0].tag != f"{{{SOAP_ENV}}}Body":
        raise client_fault("UGYLDIG_FORESPORSEL", "Forventet nøyaktig én soap:Body")
    payload = [c for c in children[0] if isinstance(c.tag, str)]
    if len(payload) != 1 or not payload[0].tag.startswith(_F):
        raise client_fault("UGYLDIG_FORESPORSEL", "Forventet nøyaktig én operasjon i soap:Body")
    request = payload[0]
    operation = request.tag[len(_F) :]
    if operation not in OPERATIONS:
        raise client_fault("UGYLDIG_FORESPORSEL", f"Ukjent operasjon {operation}")
    if soap_action != f'"{NAMESPACE}#{operation}"':
        raise client_fault("UGYLDIG_FORESPORSEL", "SOAPAction passer ikke med operasjonen")
    if operation == "SendFakturagrunnlag":
        count = sum(1 for _ in request.iterchildren(_F + "fakturagrunnlag"))
        if count > MAX_BASES:
            raise client_fault(
                "FOR_MANGE_GRUNNLAG",
                f"{count} fakturagrunnlag i ett kall; høyst {MAX_BASES} er tillatt",
            )
    schema = _schema()
    if not schema.validate(request):
        error = schema.error_log.last_error
        where = f" (linje {error.line})" if error is not None and error.line else ""
        message = _without_values(error.message) if error is not None else "ugyldig mot skjemaet"
        raise client_fault("UGYLDIG_FORESPORSEL", f"Ugyldig forespørsel{where}: {message}")
    return operation, request


# libxml2 quotes the offending value ("The value '1589901005' is not accepted …"); a fault text
# ends up in logs and on screens, so it names the element and the rule, never the value.
_QUOTED_VALUE = re.compile(r"(?:[Tt]he value )?'[^']*'(?= is not)")


def _without_values(message: str) -> str:
    return _QUOTED_VALUE.sub("The value", message)


def child_text(element: etree._Element, name: str) -> str:
    return element.findtext(_F + name) or ""


def child_texts(element: etree._Element, name: str) -> list[str]:
    return [c.text or "" for c in element.iterchildren(_F + name)]


class ResponseWriter:
    """Builds `<soap:Envelope><soap:Body><f:{operation}Response>…`."""

    def __init__(self, operation: str) -> None:
        self.envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=_NSMAP)
        body = etree.SubElement(self.envelope, f"{{{SOAP_ENV}}}Body")
        self.root = etree.SubElement(body, f"{_F}{operation}Response")

    @staticmethod
    def add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        node = etree.SubElement(parent, _F + name)
        if text is not None:
            node.text = text
        return node

    def add_optional(self, parent: etree._Element, pairs: Iterable[tuple[str, str]]) -> None:
        for name, text in pairs:
            if text:
                self.add(parent, name, text)

    def tobytes(self) -> bytes:
        return etree.tostring(self.envelope, xml_declaration=True, encoding="utf-8")


def fault_body(fault: SoapFault) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    node = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    # faultcode etc. are unqualified in SOAP 1.1.
    etree.SubElement(node, "faultcode").text = f"soap:{fault.side}"
    etree.SubElement(node, "faultstring").text = fault.tekst
    detail = etree.SubElement(node, "detail")
    feil = etree.SubElement(detail, _F + "feil", nsmap={"f": NAMESPACE})
    etree.SubElement(feil, _F + "kode").text = fault.kode
    etree.SubElement(feil, _F + "tekst").text = fault.tekst
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
