"""Anomaly warnings (spec/anomalies.md, docs/anomalies.md): what looks unlike the municipality's
own history in a month that is otherwise valid.

`Anomaly` is one finding of one month, stored by a refresh (`invoices/anomalies/`), never computed
on a page view. Its `subject_key` names what it is about (a payer, a service, a pair of bases) in
a way that survives a refresh, so an acknowledgement stays with the finding as long as it fires.
`AnomalyRun` says when a month was last computed (and whether a newer change waits), and
`AnomalySettings` holds the municipality's thresholds.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .bases import InvoiceBasis, Party
from .tenancy import Municipality, Service, Unit

DEFAULT_SHARE_PERCENT = 50
DEFAULT_AMOUNT_ORE = 50_000  # 500 kr
DEFAULT_COUNT = 10


class AnomalyKind(models.TextChoices):
    PAYER_FAR_OFF = "payer_far_off", _("Betaler langt fra sitt vanlige beløp")
    PAYER_NEW = "payer_new", _("Ny betaler")
    PAYER_MISSING = "payer_missing", _("Fast betaler mangler")
    DUPLICATE = "duplicate", _("Mulig dobbeltføring")
    SERVICE_MOVED = "service_moved", _("Tjeneste endret mye")
    UNIT_MOVED = "unit_moved", _("Enhet endret mye")
    SERVICE_VANISHED = "service_vanished", _("Tjeneste borte denne måneden")
    SERVICE_APPEARED = "service_appeared", _("Ny tjeneste")
    ZERO_AMOUNT = "zero_amount", _("Grunnlag på 0 kr")


class AnomalySettings(models.Model):
    """The municipality's thresholds. A comparison with history fires only when the difference
    is beyond the share *and* beyond the amount (or, for counts, the number of bases)."""

    municipality = models.OneToOneField(
        Municipality, on_delete=models.CASCADE, related_name="anomaly_settings"
    )
    share_percent = models.PositiveIntegerField(
        _("andel (prosent)"),
        default=DEFAULT_SHARE_PERCENT,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    amount_ore = models.BigIntegerField(
        _("beløp (øre)"),
        default=DEFAULT_AMOUNT_ORE,
        validators=[MinValueValidator(0), MaxValueValidator(100_000_000_00)],
    )
    count = models.PositiveIntegerField(
        _("antall grunnlag"),
        default=DEFAULT_COUNT,
        validators=[MinValueValidator(0), MaxValueValidator(1_000_000)],
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("terskler for avviksvarsler")
        verbose_name_plural = _("terskler for avviksvarsler")

    def __str__(self) -> str:
        return f"{self.municipality}: {self.share_percent} % / {self.amount_ore} øre"

    def snapshot(self) -> dict[str, int]:
        return {
            "share_percent": self.share_percent,
            "amount_ore": self.amount_ore,
            "count": self.count,
        }


class AnomalyRun(models.Model):
    """When a month's warnings were last computed. `requested_at` later than `started_at` means
    a change (or a click) waits for a refresh that has not begun yet."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    period = models.CharField(max_length=7)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0.0)
    findings = models.PositiveIntegerField(default=0)
    # The earlier months the computation compared with, latest first.
    history = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["municipality", "period"], name="anomaly_run_month"),
        ]

    def __str__(self) -> str:
        return f"{self.period}: {self.findings}"

    @property
    def pending(self) -> bool:
        if self.requested_at is None:
            return False
        return self.started_at is None or self.requested_at > self.started_at


class Anomaly(models.Model):
    """One warning of one month. The links say what to open; `figures` is what the page shows
    (amounts in øre, counts, the months compared), stored as computed."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    period = models.CharField(_("periode"), max_length=7)
    kind = models.CharField(_("type"), max_length=32, choices=AnomalyKind.choices)
    subject_key = models.CharField(max_length=200)
    figures = models.JSONField(default=dict, blank=True)
    basis = models.ForeignKey(
        InvoiceBasis, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Only `basis` and `payer` are looked up by (a basis deleted, a payer's page); the other
    # links need no index, and each index costs a write per finding.
    other_basis = models.ForeignKey(
        InvoiceBasis,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    payer = models.ForeignKey(
        Party, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    acknowledged_at = models.DateTimeField(_("kvittert"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    acknowledged_note = models.TextField(_("merknad"), blank=True)
    # The figures when it was acknowledged: the page says so if a refresh changed them since.
    acknowledged_figures = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = _("avviksvarsel")
        verbose_name_plural = _("avviksvarsler")
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "period", "kind", "subject_key"], name="anomaly_subject"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.kind} {self.subject_key}"

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def changed_since_acknowledged(self) -> bool:
        return self.acknowledged and self.acknowledged_figures != self.figures
