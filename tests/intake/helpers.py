"""Builders for intake documents (spec/intake.md). Every national id is synthetic."""

from __future__ import annotations

import copy
import datetime
import json
import random
from decimal import Decimal
from typing import Any

from invoices.demo_data import synthetic_national_id
from invoices.models import Municipality, Service
from tests import factories

PERIOD = "2026-10"


def catalogue(m: Municipality) -> dict[str, Service]:
    """PB and TA billable all the time; GML not billable; UTG only until 2025."""
    return {
        "PB": factories.service(m, "PB"),
        "TA": factories.service(m, "TA", name="Trygghetsalarm", visma_vare="0200"),
        "GML": factories.service(m, "GML", name="Gammel tjeneste", billable=False),
        "UTG": factories.service(
            m, "UTG", name="Utgått tjeneste", valid_to=datetime.date(2025, 12, 31)
        ),
    }


def line(
    service: str = "PB",
    quantity: str = "4.00",
    unit_price_ore: int = 21500,
    amount_ore: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    if amount_ore is None:
        amount_ore = factories.amount_for(Decimal(quantity), unit_price_ore)
    return {
        "service_code": service,
        "description": "Praktisk bistand oktober",
        "quantity": quantity,
        "unit_price_ore": unit_price_ore,
        "amount_ore": amount_ore,
        "service_from": "2026-10-01",
        "service_to": "2026-10-31",
        "texts": ["4 timer praktisk bistand"],
        "dimensions": {"ansvar": "3100"},
        **extra,
    }


def payer(national_id: str = factories.FNR_CLASSIC, **extra: Any) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "name": "Kari Nordmann",
        "address1": "Eksempelveien 1",
        "address2": "",
        "postcode": "9999",
        "place": "Testbygd",
        **extra,
    }


def basis(
    ref: str = "HT-2026-10-000001",
    *,
    lines: list[dict[str, Any]] | None = None,
    kind: str = "invoice",
    credits: str | None = None,
    payer_obj: dict[str, Any] | None = None,
    recipient: dict[str, Any] | None = None,
    unit: dict[str, Any] | None = None,
    period: str = PERIOD,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "source_reference": ref,
        "period": period,
        "unit": unit or {"code": "HJT-NORD", "name": "Hjemmetjenesten sone nord"},
        "kind": kind,
        "credits": credits,
        "payer": payer_obj or payer(),
        "lines": lines if lines is not None else [line()],
    }
    if recipient is not None:
        doc["recipient"] = recipient
    return doc


def credit(ref: str, credits: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("lines", [line(quantity="-4.00")])
    return basis(ref, kind="credit", credits=credits, **kw)


def batch(n: int, prefix: str = "HT", start: int = 1) -> list[dict[str, Any]]:
    """`n` valid invoices with their own payers (synthetic ids from the demo generator)."""
    rng = random.Random(f"intake-tests:{prefix}:{start}")
    out = []
    used: set[str] = set()
    for i in range(start, start + n):
        nid = synthetic_national_id(rng)
        while nid in used:
            nid = synthetic_national_id(rng)
        used.add(nid)
        out.append(basis(f"{prefix}-{i:06d}", payer_obj=payer(nid, name=f"Person {i}")))
    return out


def document(bases: list[dict[str, Any]], municipality: str = "9999") -> dict[str, Any]:
    return {"municipality": municipality, "invoice_bases": copy.deepcopy(bases)}


def body(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()
