"""What the municipality has defined, read once per request: its services and dimensions."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from ..models import (
    DimensionDefinition,
    Municipality,
    Service,
)


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    id: int
    billable: bool
    valid_from: datetime.date | None
    valid_to: datetime.date | None

    def valid_in(self, first: datetime.date, last: datetime.date) -> bool:
        if self.valid_from is not None and self.valid_from > last:
            return False
        return not (self.valid_to is not None and self.valid_to < first)


@dataclass(frozen=True)
class Catalogue:
    """The municipality's services and dimension keys, loaded once per request (two queries)."""

    services: Mapping[str, ServiceInfo]
    dimension_keys: frozenset[str]
    allow_synthetic: bool

    @classmethod
    def load(cls, municipality: Municipality) -> Catalogue:
        services = {
            code: ServiceInfo(pk, billable, valid_from, valid_to)
            for pk, code, billable, valid_from, valid_to in Service.objects.filter(
                municipality=municipality
            ).values_list("pk", "code", "billable", "valid_from", "valid_to")
        }
        keys = frozenset(
            DimensionDefinition.objects.filter(municipality=municipality).values_list(
                "key", flat=True
            )
        )
        return cls(services, keys, bool(settings.ALLOW_SYNTHETIC_IDS))
