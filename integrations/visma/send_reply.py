"""Reading a `SendFakturagrunnlagResponse` (HTTP 200) without zeep.

zeep turns each of up to 200 `resultat` elements into generic value objects through its type tree,
as slow as writing the request was; this reader takes only what the contract defines and refuses
anything else. It is stricter than zeep, which checks neither enumerations nor every required
element; tests compare the two on the same replies. Faults and the small operations still go
through zeep.
"""

from __future__ import annotations

import threading

from lxml import etree

from .contract import NAMESPACE, SOAP_ENV
from .types import Melding, SendResult, SendStatus

_F = "{" + NAMESPACE + "}"
_BODY = f"{{{SOAP_ENV}}}Body"
_HEADER = f"{{{SOAP_ENV}}}Header"
_RESPONSE = _F + "SendFakturagrunnlagResponse"
_BUNTREFERANSE = _F + "buntreferanse"
_RESULTAT = _F + "resultat"
_REFERANSE = _F + "referanse"
_STATUS = _F + "status"
_GRUNNLAG_ID = _F + "grunnlagId"
_MELDING = _F + "melding"
_KODE = _F + "kode"
_TEKST = _F + "tekst"
_FELT = _F + "felt"
_STATUSES: dict[str, SendStatus] = {
    "MOTTATT": "MOTTATT",
    "DUPLIKAT": "DUPLIKAT",
    "AVVIST": "AVVIST",
    "VALIDERT": "VALIDERT",
}


class UnreadableReply(ValueError):
    """The reply is not a `SendFakturagrunnlagResponse` as the contract defines it."""


_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def _elements(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str)]


def read_send_reply(content: bytes) -> list[SendResult]:
    """The results, in the order the reply lists them. Raises UnreadableReply."""
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnreadableReply("not XML") from exc
    if root.getroottree().docinfo.doctype:
        raise UnreadableReply("a reply must not carry a DOCTYPE")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise UnreadableReply("not a SOAP 1.1 envelope")
    parts = [c for c in _elements(root) if c.tag != _HEADER]
    if len(parts) != 1 or parts[0].tag != _BODY:
        raise UnreadableReply("expected one soap:Body")
    payload = _elements(parts[0])
    if len(payload) != 1 or payload[0].tag != _RESPONSE:
        raise UnreadableReply("expected SendFakturagrunnlagResponse")
    children = _elements(payload[0])
    if not children or children[0].tag != _BUNTREFERANSE:
        raise UnreadableReply("buntreferanse missing")
    return [_resultat(node) for node in children[1:]]


def _text(node: etree._Element) -> str:
    return node.text or ""


def _resultat(node: etree._Element) -> SendResult:
    if node.tag != _RESULTAT:
        raise UnreadableReply("unexpected element in the reply")
    referanse = grunnlag_id = ""
    status: SendStatus | None = None
    meldinger: list[Melding] = []
    expected = [_REFERANSE, _STATUS, _GRUNNLAG_ID, _MELDING]
    position = 0
    for child in _elements(node):
        tag = child.tag
        # Sequence order as the XSD: referanse, status, grunnlagId?, melding*.
        while position < len(expected) and expected[position] != tag:
            if expected[position] in (_REFERANSE, _STATUS):
                raise UnreadableReply("referanse and status come first")
            position += 1
        if position == len(expected):
            raise UnreadableReply("unexpected element in a resultat")
        if tag == _REFERANSE:
            referanse = _text(child)
            position += 1
        elif tag == _STATUS:
            status = _STATUSES.get(_text(child).strip())
            if status is None:
                raise UnreadableReply("unknown status")
            position += 1
        elif tag == _GRUNNLAG_ID:
            grunnlag_id = _text(child)
            position += 1
        else:
            meldinger.append(_melding(child))
    if not referanse or status is None:
        raise UnreadableReply("referanse and status are required")
    return SendResult(
        referanse=referanse, status=status, grunnlag_id=grunnlag_id, meldinger=tuple(meldinger)
    )


def _melding(node: etree._Element) -> Melding:
    children = _elements(node)
    tags = [c.tag for c in children]
    if tags not in ([_KODE, _TEKST], [_KODE, _TEKST, _FELT]):
        raise UnreadableReply("a melding is kode, tekst and an optional felt")
    return Melding(
        kode=_text(children[0]),
        tekst=_text(children[1]),
        felt=_text(children[2]) if len(children) == 3 else "",
    )
