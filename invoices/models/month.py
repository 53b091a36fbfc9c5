"""The month's totals, kept up to date by every change of a basis (`invoices/summaries.py`), so the
overview, the list's sums and the anomaly warnings never add up a month's rows on a page view.

Two grains, because a basis belongs to one unit but may have lines of several services:
`UnitMonthTotal` counts bases (and their lines and totals) per unit and status;
`ServiceMonthTotal` counts, per unit, service and status, the bases with at least one line of the
service, those lines and their amounts. Per service across units is the sum of the second (a basis
is in one unit only); per status the sum of the first.
"""

from __future__ import annotations

from django.db import models

from .tenancy import Municipality, Service, Unit


class UnitMonthTotal(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    period = models.CharField(max_length=7)
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=16)
    bases = models.BigIntegerField(default=0)
    lines = models.BigIntegerField(default=0)
    total_ore = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "period", "unit", "status"], name="unit_month_total_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.unit_id} {self.status}: {self.bases}"


class ServiceMonthTotal(models.Model):
    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    period = models.CharField(max_length=7)
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="+", db_index=False)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="+", db_index=False)
    status = models.CharField(max_length=16)
    bases = models.BigIntegerField(default=0)
    lines = models.BigIntegerField(default=0)
    total_ore = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "period", "unit", "service", "status"],
                name="service_month_total_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.unit_id}/{self.service_id} {self.status}: {self.bases}"
