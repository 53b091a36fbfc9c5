"""The demo's current month against its history: the same people as the months before, with a few
of every kind of thing a clerk should be warned about (spec/anomalies.md) and a few bases the
validation stops, so a new user sees every feature on the first login.

What is planted, each on bases chosen by position so the same seed always plants the same:

- two regular payers have no basis this month (*regular payer missing*);
- two payers are billed three times their usual quantities (*payer far off*);
- three people are billed for the first time (*new payer*);
- one basis arrives twice under two source references (*possible duplicate*);
- the safety alarm's price goes up 75 % (*service moved*, and its unit), transport to the day
  centre is coded as day-centre days at the transport's price (*service vanished*), and foot care
  is billed for the first time (*service appeared*);
- three bases carry a service that ends before the month once they are stored (validation errors
  in the Kontrollrapport);
- the generator's own zero-amount bases give *zero amount*.
"""

from __future__ import annotations

import copy
import datetime
from decimal import Decimal
from typing import Any

from . import periods
from .amounts import amount_for_quantity
from .demo_data import DemoService, _Month, ensure_service
from .models import Municipality, Service

FOOT_CARE = DemoService("FOT", "Fotpleie", "013", "0700", "4108", 35_000, "behandling", True)
ENDING = DemoService("UTG", "Utgått tilbud", "013", "0800", "4109", 15_000, "gang", True)
EXTRA_SERVICES = (FOOT_CARE, ENDING)


def ensure_extra_services(municipality: Municipality) -> None:
    for s in EXTRA_SERVICES:
        ensure_service(municipality, s)


def end_the_ending_service(municipality: Municipality, period: str) -> None:
    """After the month is stored: the ending service was valid until the month before, so its
    bases now fail validation (the catalogue changed since they arrived)."""
    last_day = periods.first_day(period) - datetime.timedelta(days=1)
    Service.objects.filter(municipality=municipality, code=ENDING.code).update(valid_to=last_day)


def _set_quantity(line: dict[str, Any], quantity: Decimal) -> None:
    line["quantity"] = f"{quantity:.2f}"
    line["amount_ore"] = amount_for_quantity(quantity, int(line["unit_price_ore"]))


def _line(period: str, service: DemoService, quantity: int, description: str) -> dict[str, Any]:
    first = periods.first_day(period)
    return {
        "service_code": service.code,
        "description": description,
        "quantity": f"{quantity:.2f}",
        "unit_price_ore": service.price_ore,
        "amount_ore": amount_for_quantity(Decimal(quantity), service.price_ore),
        "service_from": first.isoformat(),
        "service_to": (first + datetime.timedelta(days=27)).isoformat(),
    }


def planted_month(size: str, *, seed: int, period: str) -> list[dict[str, Any]]:
    """The current month: a steady month of `size` with the plants above."""
    month = _Month(size, seed, period, steady=True)
    bases = list(month.bases())
    credited = {b["credits"] for b in bases if b["kind"] == "credit"}
    plain = [
        i
        for i, b in enumerate(bases)
        if b["kind"] == "invoice"
        and b["source_reference"] not in credited
        and "national_id" in b["payer"]
        and sum(line["amount_ore"] for line in b["lines"]) > 0
    ]
    home_care = [i for i in plain if bases[i]["unit"]["code"].startswith("HJT")]

    for i in home_care[2:4]:  # payer far off
        for line in bases[i]["lines"]:
            _set_quantity(line, Decimal(line["quantity"]) * 3)
    duplicate = copy.deepcopy(bases[home_care[5]])  # possible duplicate
    duplicate["source_reference"] += "-2"
    for i in home_care[6:10]:  # service appeared
        bases[i]["lines"].append(_line(period, FOOT_CARE, 1, "Fotpleie"))
    for i in home_care[10:13]:  # validation errors once the service has ended
        bases[i]["lines"].append(_line(period, ENDING, 1, "Utgått tilbud"))
    missing = {plain[0], plain[1]}  # regular payers missing
    kept = [b for i, b in enumerate(bases) if i not in missing]
    # New payers: people the months before never met (the month used fewer than `len(bases)`).
    for k in range(3):
        client = month.people[len(bases) + k]
        kept.append(month._invoice(len(bases) + k, client, 2, zero=False))
    kept.append(duplicate)
    for basis in kept:  # the new payers' too: no transport line may be left
        for line in basis["lines"]:
            if line["service_code"] == "TA" and line["unit_price_ore"] == 30_000:
                line["unit_price_ore"] = 52_500  # service moved
                _set_quantity(line, Decimal(line["quantity"]))
            elif line["service_code"] == "TRP":  # service vanished
                line["service_code"] = "DAG"
                line["description"] = line["description"].replace(
                    "Transport dagsenter", "Dagsenter"
                )
    return kept
