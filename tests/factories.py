"""Small factories for tests. Every national id here is synthetic (Tenor: month + 80)."""

from __future__ import annotations

import hashlib
import itertools
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth import get_user_model

from invoices import summaries
from invoices.models import (
    AccountingSettings,
    BasisKind,
    BasisStatus,
    DimensionDefinition,
    InvoiceBasis,
    InvoiceLine,
    Membership,
    Municipality,
    Party,
    Role,
    Service,
    Unit,
)

# Synthetic ids from spec/identifiers.md.
FNR_CLASSIC = "15899010059"
FNR_2032 = "15899010067"
FNR_OTHER = "14819010170"
DNR = "55899010042"
ORGNR = "988077917"

_seq = itertools.count(1)


def municipality(number: str = "9999", name: str = "Demo kommune", **kw: Any) -> Municipality:
    obj, _ = Municipality.objects.get_or_create(
        number=number, defaults={"name": name, "org_number": kw.pop("org_number", "")}
    )
    return obj


def user(username: str, municipality_obj: Municipality | None = None, role: Role | None = None):  # type: ignore[no-untyped-def]
    User = get_user_model()
    u, created = User.objects.get_or_create(username=username)
    if created:
        u.set_password("testpass-123")
        u.save()
    if municipality_obj is not None and role is not None:
        Membership.objects.update_or_create(
            user=u, municipality=municipality_obj, defaults={"role": role}
        )
    return u


def accounting(m: Municipality, **values: Any) -> AccountingSettings:
    """The municipality's accounting settings with `values` (route, oppdragsgiver, KB slots)."""
    return AccountingSettings.objects.update_or_create(municipality=m, defaults=values)[0]


def unit(m: Municipality, code: str = "HJT-NORD", name: str = "Hjemmetjenesten sone nord") -> Unit:
    return Unit.objects.get_or_create(municipality=m, code=code, defaults={"name": name})[0]


def dimensions(m: Municipality, keys: tuple[str, ...] = ("ansvar", "tjeneste", "prosjekt")) -> None:
    for i, key in enumerate(keys):
        DimensionDefinition.objects.get_or_create(
            municipality=m, key=key, defaults={"name": key.capitalize(), "position": i}
        )


def service(m: Municipality, code: str = "PB", **kw: Any) -> Service:
    defaults = {
        "name": kw.pop("name", "Praktisk bistand"),
        "visma_oppdragsgiver": kw.pop("visma_oppdragsgiver", "013"),
        "visma_vare": kw.pop("visma_vare", "0100"),
        "agresso_article": kw.pop("agresso_article", "PB01"),
        "vat_code": kw.pop("vat_code", "0"),
        **kw,
    }
    return Service.objects.get_or_create(municipality=m, code=code, defaults=defaults)[0]


def party(
    m: Municipality, national_id: str = FNR_CLASSIC, org_number: str = "", **kw: Any
) -> Party:
    defaults = {
        "name": kw.pop("name", "Kari Nordmann"),
        "address1": kw.pop("address1", "Eksempelveien 1"),
        "address2": kw.pop("address2", ""),
        "postcode": kw.pop("postcode", "9999"),
        "place": kw.pop("place", "Testbygd"),
        **kw,
    }
    return Party.objects.get_or_create(
        municipality=m,
        national_id=national_id if not org_number else "",
        org_number=org_number,
        defaults=defaults,
    )[0]


def amount_for(quantity: Decimal, unit_price_ore: int) -> int:
    return int((quantity * unit_price_ore).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def basis(
    m: Municipality,
    *,
    lines: list[dict[str, Any]] | None = None,
    status: BasisStatus = BasisStatus.APPROVED,
    period: str = "2026-10",
    payer: Party | None = None,
    recipient: Party | None = None,
    kind: BasisKind = BasisKind.INVOICE,
    credits: InvoiceBasis | None = None,
    source_reference: str | None = None,
    unit_obj: Unit | None = None,
) -> InvoiceBasis:
    """An invoice basis with lines. Each line dict may give service, quantity, unit_price_ore,
    description, texts, dimensions; amount is computed as the spec says."""
    payer = payer or party(m)
    lines = lines or [{}]
    computed = []
    for spec in lines:
        qty = Decimal(str(spec.get("quantity", "4.00")))
        price = int(spec.get("unit_price_ore", 21500))
        computed.append((spec, qty, price, amount_for(qty, price)))
    ref = source_reference or f"SRC-{next(_seq):06d}"
    b = InvoiceBasis.objects.create(
        municipality=m,
        unit=unit_obj or unit(m),
        period=period,
        payer=payer,
        recipient=recipient or payer,
        source_reference=ref,
        kind=kind,
        credits=credits,
        status=status,
        total_ore=sum(c[3] for c in computed),
        line_count=len(computed),
        content_hash=hashlib.sha256(ref.encode()).hexdigest(),
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            basis=b,
            line_no=i,
            service=spec.get("service") or service(m),
            description=spec.get("description", "Praktisk bistand oktober"),
            quantity=qty,
            unit_price_ore=price,
            amount_ore=amount,
            texts=spec.get("texts", ["4 timer praktisk bistand"]),
            dimensions=spec.get("dimensions", {}),
        )
        for i, (spec, qty, price, amount) in enumerate(computed, start=1)
    )
    # Counted in the month's totals as intake would count it.
    summaries.add([b.pk])
    return b
