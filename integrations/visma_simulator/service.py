"""The three operations of `fakturering_ws`, as the simulated Visma answers them."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Sequence

from lxml import etree

from integrations.visma.envelope import escape_text
from invoices.identifiers import kid_mod10_check_digit, kid_mod11_check_digit

from .config import Company, SimulatorConfig, User
from .rules import basis_texts, check_basis, parse_basis
from .soap import (
    NAMESPACE,
    SOAP_ENV,
    ResponseWriter,
    SoapFault,
    child_text,
    child_texts,
    client_fault,
)
from .store import Store, StoredBasis

_OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
_SEND_HEAD = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:f="{NAMESPACE}"><soap:Body>'
    "<f:SendFakturagrunnlagResponse>"
)
_SEND_TAIL = "</f:SendFakturagrunnlagResponse></soap:Body></soap:Envelope>"
_F = "{urn:kommune-fakturering:fakturering-ws:1}"


class FaktureringService:
    def __init__(self, config: SimulatorConfig, store: Store) -> None:
        self.config = config
        self.store = store

    def handle(
        self,
        operation: str,
        request: etree._Element,
        user: User,
        *,
        dedup: bool,
        body: bytes | None = None,
    ) -> bytes:
        """Answer one parsed, XSD-valid request; `body` is the request as received."""
        company = self._company(user, child_text(request, "selskap"))
        if operation == "Ping":
            return self.ping(company)
        if operation == "SendFakturagrunnlag":
            return self.send(company, request, dedup=dedup, body=body)
        return self.hent_status(company, child_texts(request, "referanse"))

    def _company(self, user: User, selskap: str) -> Company:
        company = self.config.company_for(user, selskap)
        if company is None:
            raise client_fault(
                "UKJENT_SELSKAP", f"Selskap {selskap} finnes ikke eller er ikke tilgjengelig"
            )
        return company

    def ping(self, company: Company) -> bytes:
        out = ResponseWriter("Ping")
        out.add(out.root, "selskap", company.selskap)
        out.add(out.root, "selskapsnavn", company.navn)
        out.add(out.root, "tjenesteversjon", self.config.tjenesteversjon)
        now = datetime.datetime.now(tz=_OSLO).replace(microsecond=0)
        out.add(out.root, "tidspunkt", now.isoformat())
        return out.tobytes()

    def send(
        self, company: Company, request: etree._Element, *, dedup: bool, body: bytes | None = None
    ) -> bytes:
        testmodus = child_text(request, "testmodus").strip() in ("true", "1")
        checked = []
        elements = list(request.iterchildren(_F + "fakturagrunnlag"))
        texts = basis_texts(body, request, elements) if body is not None else None
        for index, element in enumerate(elements):
            basis = parse_basis(element, texts[index] if texts is not None else None)
            messages = check_basis(company, basis, allow_synthetic=self.config.allow_synthetic_ids)
            checked.append((basis, messages))
        outcomes = self.store.send(company.selskap, checked, testmodus=testmodus, dedup=dedup)
        # Written as text: up to 200 results, and this is the simulator's hottest path.
        x = escape_text
        parts = [
            _SEND_HEAD,
            f"<f:buntreferanse>{x(child_text(request, 'buntreferanse'))}</f:buntreferanse>",
        ]
        add = parts.append
        for outcome in outcomes:
            add(f"<f:resultat><f:referanse>{x(outcome.referanse)}</f:referanse>")
            add(f"<f:status>{outcome.status}</f:status>")
            if outcome.grunnlag_id:
                add(f"<f:grunnlagId>{x(outcome.grunnlag_id)}</f:grunnlagId>")
            for m in outcome.messages:
                add(f"<f:melding><f:kode>{x(m.kode)}</f:kode><f:tekst>{x(m.tekst)}</f:tekst>")
                if m.felt:
                    add(f"<f:felt>{x(m.felt)}</f:felt>")
                add("</f:melding>")
            add("</f:resultat>")
        add(_SEND_TAIL)
        return "".join(parts).encode("utf-8")

    def hent_status(self, company: Company, referanser: Sequence[str]) -> bytes:
        out = ResponseWriter("HentStatus")
        for row in self.store.status(company.selskap, referanser):
            node = out.add(out.root, "grunnlagstatus")
            out.add(node, "referanse", row.referanse)
            out.add(node, "tilstand", row.tilstand)
            stored = row.stored
            if stored is None:
                continue
            out.add_optional(
                node,
                [
                    ("grunnlagId", stored.grunnlag_id),
                    ("fakturanummer", stored.fakturanummer),
                    ("fakturadato", _iso(stored.fakturadato)),
                    ("forfallsdato", _iso(stored.forfallsdato)),
                    ("kid", stored.kid),
                    ("belop", str(stored.belop)),
                ],
            )
        return out.tobytes()

    def invoice(
        self,
        selskap: str,
        referanser: Sequence[str] | None = None,
        *,
        fakturadato: datetime.date | None = None,
        forfallsdato: datetime.date | None = None,
    ) -> list[StoredBasis]:
        """Turn stored bases into invoices (FAKTURERT): invoice number, dates and KID."""
        company = self.config.companies.get(selskap)
        if company is None:
            raise SoapFault("Client", "UKJENT_SELSKAP", f"Selskap {selskap} finnes ikke")
        fakturadato = fakturadato or datetime.datetime.now(tz=_OSLO).date()
        forfallsdato = forfallsdato or fakturadato + datetime.timedelta(
            days=company.betalingsfrist_dager
        )
        return self.store.invoice(
            selskap,
            referanser,
            fakturadato=fakturadato,
            forfallsdato=forfallsdato,
            make_kid=lambda _row, fakturanummer: make_kid(company, fakturanummer),
        )


def make_kid(company: Company, fakturanummer: str) -> str:
    """A KID from the invoice number (never from the customer's national id)."""
    body = f"{int(fakturanummer):010d}"
    if company.kid_method == "MOD11":
        check = kid_mod11_check_digit(body)
        if check != "-":
            return body + check
        # MOD11 remainder 10 is written "-", but the contract's KID is digits only: this
        # invoice number gets a MOD10 check digit instead (either is a valid KID).
    return body + kid_mod10_check_digit(body)


def _iso(value: datetime.date | None) -> str:
    return value.isoformat() if value else ""
