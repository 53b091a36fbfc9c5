"""The reference the product's fast SOAP code is held to: the same request body serialized, and the
same reply read, by zeep from the bundled WSDL. Too slow for real batches, so it lives with the
tests that compare the two."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from integrations.visma.client import _check_batch, _contract, _unwrap, _zeep_envelope
from integrations.visma.envelope import check_periode, format_antall
from integrations.visma.types import Melding, SendResult, SoapBasis


def build_send_envelope_with_zeep(
    selskap: str, buntreferanse: str, bases: Sequence[SoapBasis], testmodus: bool = False
) -> bytes:
    """The same body serialized by zeep from the WSDL: the reference `build_send_envelope` is
    tested against (too slow for real batches)."""
    _check_batch(bases)
    return _zeep_envelope(
        "SendFakturagrunnlag", _send_kwargs(selskap, buntreferanse, bases, testmodus)
    )


def read_send_reply_with_zeep(content: bytes) -> list[SendResult]:
    """A `SendFakturagrunnlagResponse` read by zeep from the WSDL: the reference the fast
    `read_send_reply` is tested against."""
    contract = _contract()
    binding = contract.service._binding
    reply = binding.process_reply(contract, binding.get("SendFakturagrunnlag"), _Reply(content))
    return [_send_result(r) for r in _unwrap(reply, "resultat")]


class _Reply:
    """The little of a `requests.Response` zeep reads."""

    status_code = 200
    encoding = "utf-8"
    headers = {"Content-Type": "text/xml; charset=utf-8"}

    def __init__(self, content: bytes) -> None:
        self.content = content


def _opt(value: str) -> str | None:
    """Optional strings: empty means left out of the XML."""
    return value or None


def _periode(value: str) -> tuple[int, int, None]:
    # zeep renders gYearMonth from (year, month, tz).
    year, month = check_periode(value).split("-")
    return int(year), int(month), None


def _send_kwargs(
    selskap: str, buntreferanse: str, bases: Sequence[SoapBasis], testmodus: bool
) -> dict[str, Any]:
    return {
        "selskap": selskap,
        "testmodus": testmodus,
        "buntreferanse": buntreferanse,
        "fakturagrunnlag": [_basis_value(b) for b in bases],
    }


def _basis_value(basis: SoapBasis) -> dict[str, Any]:
    return {
        "referanse": basis.referanse,
        "kreditnotaFor": _opt(basis.kreditnota_for),
        "periode": _periode(basis.periode),
        "kunde": {
            "kundenr": basis.kundenr,
            "navn": basis.navn,
            "adresse1": _opt(basis.adresse1),
            "adresse2": _opt(basis.adresse2),
            "postnr": basis.postnr,
            "poststed": _opt(basis.poststed),
        },
        "betform": _opt(basis.betform),
        "oppdragsgiver": basis.oppdragsgiver,
        "saksnr": _opt(basis.saksnr),
        "deresRef": _opt(basis.deres_ref),
        "linje": [
            {
                "varenr": line.varenr,
                "antall": Decimal(format_antall(line.antall)),
                "pris": line.pris,
                "belop": line.belop,
                "mvakode": _opt(line.mvakode),
                "kontering": (
                    {
                        "kb": [
                            {"_value_1": value, "nr": nr}
                            for nr, value in sorted(line.kontering.items())
                            if value
                        ]
                    }
                    if any(line.kontering.values())
                    else None
                ),
                "profil": _opt(line.profil),
                "internfaktura": line.internfaktura,
                "tekst": list(line.tekster),
            }
            for line in basis.linjer
        ],
    }


def _send_result(node: Any) -> SendResult:
    return SendResult(
        referanse=node.referanse,
        status=node.status,
        grunnlag_id=node.grunnlagId or "",
        meldinger=tuple(
            Melding(kode=m.kode, tekst=m.tekst, felt=m.felt or "") for m in node.melding or []
        ),
    )
