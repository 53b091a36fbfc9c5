"""A small month with something of everything: two units, two services, a person with a D-number,
an organisation, a credit note, a basis in the month before, and kommune B's own month."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from invoices.models import BasisKind, BasisStatus, InvoiceBasis, Municipality, Role
from tests import factories


@dataclass
class Month:
    nord: InvoiceBasis  # HJT-NORD, Kari (fnr), PB 4 × 215,00, approved
    sor: InvoiceBasis  # HJT-SOR, Ola (D-nr), PB 2 × 215,00 + TA 300,00, received
    org: InvoiceBasis  # HJT-SOR, an organisation, TA 300,00, exported
    credit: InvoiceBasis  # HJT-SOR, credits `org`: −300,00, received
    september: InvoiceBasis  # 2026-09, HJT-NORD
    other_tenant: InvoiceBasis  # kommune B, 2026-10


@pytest.fixture
def lesetilgang_a(kommune_a: Municipality) -> Any:
    return factories.user("lesetilgang_a", kommune_a, Role.LESETILGANG)


@pytest.fixture
def month(kommune_a: Municipality, kommune_b: Municipality) -> Month:
    nord = factories.unit(kommune_a, "HJT-NORD", "Hjemmetjenesten sone nord")
    sor = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    pb = factories.service(kommune_a, "PB")
    ta = factories.service(kommune_a, "TA", name="Trygghetsalarm", visma_vare="0200")
    kari = factories.party(kommune_a, factories.FNR_CLASSIC, name="Kari Nordmann")
    ola = factories.party(kommune_a, factories.DNR, name="=Ola Nordmann")
    firm = factories.party(kommune_a, org_number=factories.ORGNR, name="Omsorg AS")
    org = factories.basis(
        kommune_a,
        unit_obj=sor,
        payer=firm,
        status=BasisStatus.EXPORTED,
        lines=[{"service": ta, "quantity": "1", "unit_price_ore": 30000}],
    )
    return Month(
        nord=factories.basis(
            kommune_a,
            unit_obj=nord,
            payer=kari,
            lines=[{"service": pb, "quantity": "4", "unit_price_ore": 21500}],
        ),
        sor=factories.basis(
            kommune_a,
            unit_obj=sor,
            payer=ola,
            status=BasisStatus.RECEIVED,
            lines=[
                {
                    "service": pb,
                    "quantity": "2",
                    "unit_price_ore": 21500,
                    "dimensions": {"ansvar": "1200"},
                },
                {
                    "service": ta,
                    "quantity": "1",
                    "unit_price_ore": 30000,
                    "texts": ["Alarm", "oktober"],
                },
            ],
        ),
        org=org,
        credit=factories.basis(
            kommune_a,
            unit_obj=sor,
            payer=firm,
            kind=BasisKind.CREDIT,
            credits=org,
            status=BasisStatus.RECEIVED,
            lines=[{"service": ta, "quantity": "-1", "unit_price_ore": 30000}],
        ),
        september=factories.basis(kommune_a, unit_obj=nord, payer=kari, period="2026-09"),
        other_tenant=factories.basis(
            kommune_b,
            payer=factories.party(kommune_b, factories.FNR_OTHER, name="Per i B"),
            source_reference="B-ONLY-1",
        ),
    )
