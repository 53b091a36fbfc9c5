"""The selection a page shows — a period, optionally one unit and one service — and the bases it
holds. The list, approval, the export and the Visma send all act on the same selection, and every
confirmation states it with the count and the total."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.db.models import Count, QuerySet, Sum
from django.http import QueryDict
from django.utils.translation import gettext as _

from core import params

from .models import InvoiceBasis, InvoiceLine, Municipality, Service, Unit


@dataclass(frozen=True)
class MonthSelection:
    period: str
    unit: Unit | None = None
    service: Service | None = None

    @classmethod
    def from_data(cls, municipality: Municipality, data: Mapping[str, Any]) -> MonthSelection:
        """From a page's query or form. A malformed value (a NUL, a period that is not a month)
        is a 400 (`core.params`); an unknown unit or service selects nothing rather than
        everything: `period` is then ""."""
        query = cast(QueryDict, data)
        period = params.period(query)
        unit_code = params.code(query, "unit")
        service_code = params.code(query, "service")
        unit = (
            Unit.objects.filter(municipality=municipality, code=unit_code).first()
            if unit_code
            else None
        )
        service = (
            Service.objects.filter(municipality=municipality, code=service_code).first()
            if service_code
            else None
        )
        valid = (
            bool(period)
            and (unit is not None or not unit_code)
            and (service is not None or not service_code)
        )
        return cls(period if valid else "", unit, service)

    @property
    def valid(self) -> bool:
        return bool(self.period)

    def bases(self, municipality: Municipality) -> QuerySet[InvoiceBasis]:
        """The municipality's bases in the selection (every status)."""
        if not self.period:
            return InvoiceBasis.objects.none()
        bases = InvoiceBasis.objects.filter(municipality=municipality, period=self.period)
        if self.unit is not None:
            bases = bases.filter(unit=self.unit)
        if self.service is not None:
            bases = bases.filter(
                pk__in=InvoiceLine.objects.filter(service=self.service).values("basis_id")
            )
        return bases

    def totals(self, municipality: Municipality, status: str) -> tuple[int, int]:
        """(count, total øre) of the selection's bases in `status`: what an action would take."""
        row = (
            self.bases(municipality)
            .filter(status=status)
            .aggregate(count=Count("pk"), total=Sum("total_ore"))
        )
        return row["count"] or 0, row["total"] or 0

    def as_query(self) -> dict[str, str]:
        query = {"period": self.period}
        if self.unit is not None:
            query["unit"] = self.unit.code
        if self.service is not None:
            query["service"] = self.service.code
        return query

    def query_string(self) -> str:
        return urlencode(self.as_query())

    def describe(self) -> str:
        """For people: "2026-10, Hjemmetjenesten sone nord, Trygghetsalarm"."""
        parts = [self.period]
        parts.append(self.unit.name if self.unit else _("alle enheter"))
        parts.append(self.service.name if self.service else _("alle tjenester"))
        return ", ".join(parts)
