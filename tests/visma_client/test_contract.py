"""The bundled WSDL/XSD and the request writer against the contract's own examples."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from integrations.visma.client import build_send_envelope
from integrations.visma.contract import XSD_PATH
from integrations.visma.envelope import format_antall
from integrations.visma.send_reply import UnreadableReply, read_send_reply
from integrations.visma.types import SoapBasis, SoapLine
from tests.visma_client.zeep_oracle import build_send_envelope_with_zeep, read_send_reply_with_zeep

from .conftest import basis, line

NS = "urn:kommune-fakturering:fakturering-ws:1"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"

# The request and response examples of the contract (visma-ws.md, "Wire shape"), verbatim.
SPEC_REQUEST = """\
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <f:SendFakturagrunnlag xmlns:f="urn:kommune-fakturering:fakturering-ws:1">
      <f:selskap>1</f:selskap>
      <f:testmodus>false</f:testmodus>
      <f:buntreferanse>9999-2026-10-0001</f:buntreferanse>
      <f:fakturagrunnlag>
        <f:referanse>9999-000000123</f:referanse>
        <f:periode>2026-10</f:periode>
        <f:kunde>
          <f:kundenr>15899010059</f:kundenr>
          <f:navn>Kari Nordmann</f:navn>
          <f:adresse1>Eksempelveien 1</f:adresse1>
          <f:postnr>9999</f:postnr>
          <f:poststed>Testbygd</f:poststed>
        </f:kunde>
        <f:betform>BG</f:betform>
        <f:oppdragsgiver>013</f:oppdragsgiver>
        <f:linje>
          <f:varenr>0100</f:varenr>
          <f:antall>4.00</f:antall>
          <f:pris>21500</f:pris>
          <f:belop>86000</f:belop>
          <f:kontering><f:kb nr="1">3100</f:kb><f:kb nr="4">9</f:kb></f:kontering>
          <f:tekst>4 timer praktisk bistand</f:tekst>
        </f:linje>
      </f:fakturagrunnlag>
    </f:SendFakturagrunnlag>
  </soap:Body>
</soap:Envelope>
"""

SPEC_RESPONSE = """\
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <f:SendFakturagrunnlagResponse xmlns:f="urn:kommune-fakturering:fakturering-ws:1">
      <f:buntreferanse>9999-2026-10-0001</f:buntreferanse>
      <f:resultat>
        <f:referanse>9999-000000123</f:referanse>
        <f:status>MOTTATT</f:status>
        <f:grunnlagId>G-000001</f:grunnlagId>
      </f:resultat>
    </f:SendFakturagrunnlagResponse>
  </soap:Body>
</soap:Envelope>
"""

SPEC_BASIS = basis(
    "9999-000000123",
    line(
        "0100",
        "4",
        21500,
        86000,
        kontering={4: "9", 1: "3100"},
        tekster=("4 timer praktisk bistand",),
    ),
)


def elements(xml: bytes | str) -> list[tuple[str, dict[str, str], str]]:
    """Every element in document order: (qualified tag, attributes, text). Whitespace between
    elements (indentation) is not content; whitespace inside a text value is."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    out = []
    for node in root.iter():
        text = node.text or ""
        out.append((node.tag, dict(node.attrib), text if len(node) == 0 else text.strip()))
    return out


def validate(xml: bytes) -> etree._Element:
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    request = etree.fromstring(xml).find(f"{{{SOAP}}}Body")[0]
    schema.assertValid(request)
    return request


def test_request_for_the_spec_example_is_the_spec_example() -> None:
    body = build_send_envelope("1", "9999-2026-10-0001", [SPEC_BASIS], False)
    assert elements(body) == elements(SPEC_REQUEST)
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_zeep_serializes_the_spec_example_the_same_way() -> None:
    body = build_send_envelope_with_zeep("1", "9999-2026-10-0001", [SPEC_BASIS], False)
    assert elements(body) == elements(SPEC_REQUEST)


def test_spec_example_request_is_valid_against_the_xsd() -> None:
    validate(SPEC_REQUEST.encode())
    validate(build_send_envelope("1", "9999-2026-10-0001", [SPEC_BASIS], False))


def test_spec_example_response_parses() -> None:
    for read in (read_send_reply, read_send_reply_with_zeep):
        [result] = read(SPEC_RESPONSE.encode())
        assert (result.referanse, result.status, result.grunnlag_id) == (
            "9999-000000123",
            "MOTTATT",
            "G-000001",
        )


_REPLY_HEAD = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    f'<f:SendFakturagrunnlagResponse xmlns:f="{NS}"><f:buntreferanse>B</f:buntreferanse>'
)
_REPLY_TAIL = "</f:SendFakturagrunnlagResponse></soap:Body></soap:Envelope>"


def _reply(*resultater: str) -> bytes:
    return (_REPLY_HEAD + "".join(resultater) + _REPLY_TAIL).encode()


def test_readers_agree_on_every_shape_of_result() -> None:
    reply = _reply(
        "<f:resultat><f:referanse>R1</f:referanse><f:status>MOTTATT</f:status>"
        "<f:grunnlagId>G-1</f:grunnlagId></f:resultat>",
        "<f:resultat><f:referanse>R2</f:referanse><f:status>AVVIST</f:status>"
        "<f:melding><f:kode>UKJENT_VARE</f:kode><f:tekst>Vare &amp; pris</f:tekst>"
        "<f:felt>linje[1].varenr</f:felt></f:melding>"
        "<f:melding><f:kode>X</f:kode><f:tekst>uten felt</f:tekst></f:melding></f:resultat>",
        "<f:resultat>\n <f:referanse>R3</f:referanse>\n <f:status>VALIDERT</f:status>\n"
        "</f:resultat>",
    )
    fast = read_send_reply(reply)
    assert fast == read_send_reply_with_zeep(reply)
    assert [(r.referanse, r.status, len(r.meldinger)) for r in fast] == [
        ("R1", "MOTTATT", 0),
        ("R2", "AVVIST", 2),
        ("R3", "VALIDERT", 0),
    ]
    assert fast[1].meldinger[0].tekst == "Vare & pris"
    assert fast[1].meldinger[1].felt == ""


@pytest.mark.parametrize(
    "resultat",
    [
        "<f:resultat><f:referanse>R1</f:referanse><f:status>KANSKJE</f:status></f:resultat>",
        "<f:resultat><f:status>MOTTATT</f:status></f:resultat>",
        "<f:resultat><f:status>MOTTATT</f:status><f:referanse>R1</f:referanse></f:resultat>",
        "<f:resultat><f:referanse>R1</f:referanse><f:status>MOTTATT</f:status>"
        "<f:grunnlagId>1</f:grunnlagId><f:grunnlagId>2</f:grunnlagId></f:resultat>",
        "<f:resultat><f:referanse>R1</f:referanse><f:status>MOTTATT</f:status>"
        "<f:ukjent>x</f:ukjent></f:resultat>",
        "<f:resultat><f:referanse>R1</f:referanse><f:status>MOTTATT</f:status>"
        "<f:melding><f:kode>K</f:kode></f:melding></f:resultat>",
        "<f:annet/>",
    ],
)
def test_fast_reader_refuses_what_the_contract_does_not_allow(resultat: str) -> None:
    # Stricter than zeep, which checks neither enumerations nor every required element: a
    # status the sender does not know must never pass as a result.
    with pytest.raises(UnreadableReply):
        read_send_reply(_reply(resultat))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not xml",
        b"<a/>",
        b'<!DOCTYPE x [<!ENTITY e "MOTTATT">]>' + _reply(),
        _reply().replace(b"<f:buntreferanse>B</f:buntreferanse>", b""),
        _reply()[:-20],
    ],
)
def test_fast_reader_refuses_what_is_not_a_reply(content: bytes) -> None:
    with pytest.raises(UnreadableReply):
        read_send_reply(content)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("4", "4.00"),
        ("4.5", "4.50"),
        ("-1", "-1.00"),
        ("-0", "0.00"),
        ("-0.001", "0.00"),
        ("1E+1", "10.00"),
        ("0.125", "0.13"),
        ("-0.125", "-0.13"),
    ],
)
def test_antall_is_written_with_exactly_two_decimals(value: str, wire: str) -> None:
    assert format_antall(Decimal(value)) == wire


def test_optional_elements_and_empty_kontering_are_left_out() -> None:
    bare = basis(
        "R1",
        SoapLine(varenr="0200", antall=Decimal("1"), pris=0, belop=0, kontering={3: ""}),
        adresse1="",
        poststed="",
        betform="",
    )
    request = validate(build_send_envelope("1", "B", [bare], False))
    names = {etree.QName(n).localname for n in request.iter()}
    for left_out in ("adresse1", "adresse2", "poststed", "betform", "kontering", "kreditnotaFor"):
        assert left_out not in names
    assert {"internfaktura", "tekst", "mvakode", "profil"}.isdisjoint(names)


def test_every_optional_element_in_contract_order() -> None:
    full = basis(
        "R2",
        line(
            "0100",
            "-1.5",
            333,
            -500,
            mvakode="0",
            kontering={10: "x", 2: "y"},
            profil="P",
            internfaktura=True,
            tekster=("a", "b"),
        ),
        kreditnota_for="R1",
        adresse2="Postboks 1",
        betform="PG",
        saksnr="2026/1",
        deres_ref="Ola",
    )
    body = build_send_envelope("1", "B", [full], True)
    assert elements(body) == elements(build_send_envelope_with_zeep("1", "B", [full], True))
    request = validate(body)
    grunnlag = request.find(f"{{{NS}}}fakturagrunnlag")
    assert [etree.QName(c).localname for c in grunnlag] == [
        "referanse",
        "kreditnotaFor",
        "periode",
        "kunde",
        "betform",
        "oppdragsgiver",
        "saksnr",
        "deresRef",
        "linje",
    ]
    linje = grunnlag.find(f"{{{NS}}}linje")
    assert [etree.QName(c).localname for c in linje] == [
        "varenr",
        "antall",
        "pris",
        "belop",
        "mvakode",
        "kontering",
        "profil",
        "internfaktura",
        "tekst",
        "tekst",
    ]
    assert [kb.get("nr") for kb in linje.find(f"{{{NS}}}kontering")] == ["2", "10"]
    assert linje.findtext(f"{{{NS}}}antall") == "-1.50"


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("linje/antall", "4"),
        ("linje/antall", "+4.00"),
        ("linje/antall", "4.000"),
        ("linje/pris", "+1"),
        ("linje/pris", "0100"),
        ("linje/belop", "1.0"),
        ("periode", "2026-10-01"),
        ("periode", "2026-10Z"),
        ("kunde/kundenr", "1234567890"),
        ("kunde/kundenr", "١٥٨٩٩٠١٠٠٥٩"),  # non-ASCII digits
        ("kunde/postnr", "999"),
        ("oppdragsgiver", "13"),
        ("betform", "XX"),
        ("referanse", "x" * 21),
        ("kunde/navn", "n" * 41),
    ],
)
def test_xsd_rejects_what_the_contract_forbids(path: str, bad: str) -> None:
    request = validate(build_send_envelope("1", "B", [SPEC_BASIS], False))
    xpath = "f:fakturagrunnlag/" + "/".join(f"f:{p}" for p in path.split("/"))
    node = request.find(xpath, {"f": NS})
    assert node is not None
    node.text = bad
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert not schema.validate(request)


def test_xsd_rejects_a_kontering_slot_used_twice() -> None:
    request = validate(build_send_envelope("1", "B", [SPEC_BASIS], False))
    kontering = request.find("f:fakturagrunnlag/f:linje/f:kontering", {"f": NS})
    kontering[1].set("nr", "1")
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    assert not schema.validate(request)


def test_text_xml_cannot_carry_is_refused_before_sending() -> None:
    with pytest.raises(ValueError):
        build_send_envelope("1", "B", [basis("R", navn="Kari\x00")], False)


def test_malformed_periode_is_refused() -> None:
    with pytest.raises(ValueError):
        build_send_envelope("1", "B", [basis("R", periode="2026-13")], False)


def test_batch_size_is_checked() -> None:
    with pytest.raises(ValueError):
        build_send_envelope("1", "B", [], False)
    with pytest.raises(ValueError):
        build_send_envelope("1", "B", [basis(f"R{i}") for i in range(201)], False)


# Text that tests escaping: markup characters, carriage returns, tabs, Norwegian and Sámi
# letters, emoji (outside the BMP).
_awkward = st.text(
    alphabet=st.sampled_from(list("aZ09 &<>\"'\r\n\tæøåÆØÅáčđŋšŧž🙂")), min_size=1, max_size=12
)
_optional_text = st.one_of(st.just(""), _awkward)


@st.composite
def _lines(draw: Any) -> SoapLine:
    return SoapLine(
        varenr=draw(st.sampled_from(["0100", "0200"])),
        antall=draw(st.decimals(min_value=-999, max_value=999, places=2, allow_nan=False)),
        pris=draw(st.integers(min_value=-(10**9), max_value=10**9)),
        belop=draw(st.integers(min_value=-(10**12), max_value=10**12)),
        mvakode=draw(st.sampled_from(["", "0", "25"])),
        kontering=draw(st.dictionaries(st.integers(1, 10), _optional_text, max_size=4)),
        profil=draw(_optional_text),
        internfaktura=draw(st.sampled_from([None, True, False])),
        tekster=tuple(draw(st.lists(_awkward, max_size=3))),
    )


@st.composite
def _bases(draw: Any) -> SoapBasis:
    return basis(
        draw(_awkward),
        *draw(st.lists(_lines(), min_size=1, max_size=3)),
        navn=draw(_awkward),
        adresse1=draw(_optional_text),
        adresse2=draw(_optional_text),
        poststed=draw(_optional_text),
        kreditnota_for=draw(_optional_text),
        saksnr=draw(_optional_text),
        deres_ref=draw(_optional_text),
        betform=draw(st.sampled_from(["", "BG", "PG"])),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bases=st.lists(_bases(), min_size=1, max_size=3), testmodus=st.booleans())
def test_fast_writer_matches_zeep(bases: list[SoapBasis], testmodus: bool) -> None:
    fast = build_send_envelope("1", "bunt & <co>", bases, testmodus)
    reference = build_send_envelope_with_zeep("1", "bunt & <co>", bases, testmodus)
    assert elements(fast) == elements(reference)
