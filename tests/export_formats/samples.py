"""A small fixed set of invoice bases for the golden files. Every id is synthetic (Tenor)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from exports.formats.agresso_cs15 import CustomerFileOptions
from exports.formats.agresso_lg04 import AgressoOptions
from exports.formats.types import Basis, Customer, Line
from exports.formats.visma_file import VismaFileOptions

FNR_OTHER = "14819010170"  # the spec's worked example
FNR_2032 = "15899010067"  # valid only under the 2032 rule
DNR = "55899010042"
ORGNR = "988077917"

KARI = Customer(
    identifier=FNR_OTHER,
    is_organisation=False,
    name="Kari Nordmann",
    address1="Eksempelveien 1",
    postcode="9999",
    place="Testbygd",
    customer_number="20000815",
)
AILE = Customer(
    identifier=DNR,
    is_organisation=False,
    name="Áile Čoalmmát Ŋiillasdottir",
    address1="Đuoddarluodda 7",
    address2="Postboks 12",
    postcode="9730",
    place="Kárášjohka",
    customer_number="20000816",
)
SJOGLOTT = Customer(
    identifier=ORGNR,
    is_organisation=True,
    name="Sjøgløtt Omsorg og Pleie AS, avdeling for korttidsopphold",
    address1="Strandgata 15",
    postcode="9999",
    place="Testbygd",
    customer_number="20000817",
)
OYSTEIN = Customer(
    identifier=FNR_2032,
    is_organisation=False,
    name="Øystein Ærlig",
    address1="Åsveien 3",
    postcode="9998",
    place="Nabobygd",
    customer_number="20000818",
)

DIMS = {"ansvar": "3100", "tjeneste": "25400", "prosjekt": "9"}


def line(n: int, **kw: Any) -> Line:
    defaults: dict[str, Any] = {
        "line_no": n,
        "service_code": "PB",
        "description": "Praktisk bistand oktober",
        "quantity": Decimal("4.00"),
        "unit_price_ore": 21500,
        "amount_ore": 86000,
        "visma_oppdragsgiver": "013",
        "visma_vare": "0100",
        "agresso_article": "PB01",
        "vat_code": "0",
        "service_from": datetime.date(2026, 10, 1),
        "service_to": datetime.date(2026, 10, 31),
        "texts": (),
        "dimensions": DIMS,
    }
    defaults.update(kw)
    return Line(**defaults)


def basis(pk: int, payer: Customer, lines: tuple[Line, ...], **kw: Any) -> Basis:
    defaults: dict[str, Any] = {
        "pk": pk,
        "reference": f"9999-{pk:09d}",
        "source_reference": f"CURA-{pk:06d}",
        "period": "2026-10",
        "kind": "invoice",
        "payer": payer,
        "recipient": payer,
        "unit_code": "HJT-NORD",
        "unit_name": "Hjemmetjenesten sone nord",
        "lines": lines,
    }
    defaults.update(kw)
    return Basis(**defaults)


WRAPPING_TEXT = (
    "Vedtak om praktisk bistand og opplæring i dagliglivets gjøremål, jf. "
    "helse- og omsorgstjenesteloven § 3-2 første ledd nr. 6 bokstav b"
)

BASES: tuple[Basis, ...] = (
    # The spec's worked example: 4 hours at 215,00 kr, two text lines.
    basis(
        1,
        KARI,
        (line(1, texts=("4 timer praktisk bistand", "Abonnementsgrense 2-3G")),),
    ),
    # D-number payer with Sámi letters, a text that wraps, and a second line.
    basis(
        2,
        AILE,
        (
            line(
                1,
                service_code="TRYGG",
                description="Trygghetsalarm – månedsleie",
                quantity=Decimal("1.00"),
                unit_price_ore=35000,
                amount_ore=35000,
                visma_vare="0200",
                agresso_article="TA01",
                texts=("Ruovttubálvalus: “alárma” oktober",),
            ),
            line(
                2,
                service_code="MAT",
                description="Middag levert hjem",
                quantity=Decimal("12.50"),
                unit_price_ore=9800,
                amount_ore=122500,
                visma_vare="0300",
                agresso_article="MAT1",
                texts=(WRAPPING_TEXT,),
            ),
        ),
    ),
    # An organisation pays for a person (recipient differs from payer).
    basis(
        3,
        SJOGLOTT,
        (
            line(
                1,
                service_code="KORT",
                description="Korttidsopphold",
                quantity=Decimal("3.00"),
                unit_price_ore=18000,
                amount_ore=54000,
                visma_oppdragsgiver="014",
                visma_vare="0400",
                agresso_article="KO01",
                vat_code="25",
                texts=("3 døgn",),
            ),
        ),
        recipient=OYSTEIN,
        source_reference="CURA-KORTTID-2026-10-000003",
    ),
    # A credit note for the 2032-rule payer: negative quantity, positive price.
    basis(
        4,
        OYSTEIN,
        (
            line(
                1,
                description="Kreditering praktisk bistand",
                quantity=Decimal("-2.00"),
                unit_price_ore=21500,
                amount_ore=-43000,
                texts=("Feil antall timer i september",),
            ),
        ),
        kind="credit",
        credits_reference="9999-000000000",
        period="2026-09",
    ),
)

VISMA_EXTENDED = VismaFileOptions(
    kb_slots=("ansvar", "tjeneste", "", "", "prosjekt"),
    reference_text="AIDN fakturagrunnlag 2026-10 Demo kommune",
    profil="HJEMMETJ",
)
VISMA_BASIC = VismaFileOptions(layout="basic", reference_text="AIDN fakturagrunnlag 2026-10")

_AGRESSO: dict[str, Any] = {
    "client": "BY",
    "voucher_type": "FK",
    "order_type": "FS",
    "pay_method": "IP",
    "responsible": "AIDN",
    "responsible2": "AIDN",
    "batch_id": "AIDN261101A",
    "dim_slots": ("ansvar", "tjeneste", "", "", "prosjekt"),
    "required_slots": frozenset({5}),
    "order_date": datetime.date(2026, 11, 1),
}
LG04_CLASSIC = AgressoOptions(layout="classic", customer_mode="apar_id", **_AGRESSO)
LG04_WIDE = AgressoOptions(
    layout="wide",
    customer_mode="id_in_text",
    header_text_template="{unit_name}, {period_name} ({reference})",
    line_ending="\n",
    **{**_AGRESSO, "batch_id": "AIDN-9999-20261101-01"},
)
CS15 = CustomerFileOptions(client="BY", customer_group="10", pay_method="IP")
FIRST_ORDER_ID = 380000101
