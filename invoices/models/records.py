"""The care system's API keys and the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .tenancy import Municipality


class ApiToken(models.Model):
    """A care system's key for the intake API. Only a SHA-256 of the token is stored."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("navn"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("prefiks"), max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API-nøkkel")
        verbose_name_plural = _("API-nøkler")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditEvent(models.Model):
    """Who did what to which object, when; settings changes carry before/after (never secrets)."""

    # No index of its own: the (municipality, created_at, id) index below leads with it.
    municipality = models.ForeignKey(
        Municipality,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        db_index=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(_("handling"), max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("logghendelse")
        verbose_name_plural = _("logghendelser")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit page: one municipality's events, newest first, a page at either end.
            models.Index(fields=["municipality", "-created_at", "-id"], name="audit_tenant_recent"),
            # The audit page's filter on one object (an export, a transfer, a settings row).
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"


class AuditedBasis(models.Model):
    """Which bases an event concerns: one row per basis, so a basis's story (its intake,
    corrections, approvals and withdrawals, credit notes) is one indexed read, whether the event
    was about that basis alone or about a month of them."""

    # Found by basis through the unique (basis, event) index; events are never deleted.
    event = models.ForeignKey(
        AuditEvent, on_delete=models.CASCADE, related_name="basis_links", db_index=False
    )
    basis = models.ForeignKey(
        "invoices.InvoiceBasis",
        on_delete=models.CASCADE,
        related_name="audit_links",
        db_index=False,
    )

    class Meta:
        verbose_name = _("grunnlag i logghendelse")
        verbose_name_plural = _("grunnlag i logghendelser")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["basis", "event"], name="audited_basis_once"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.basis_id}"
