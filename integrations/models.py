"""The direct route to Visma: per-municipality settings, transfer runs and their outbox.

A `TransferAttempt` row is the outbox entry for one basis in one transfer. It is written (and
committed) before any call carries the basis, and its `state` is the single truth about where the
basis stands; the Celery queue only wakes workers up. See docs/visma.md for the state machine.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from invoices.models import InvoiceBasis, Municipality, Service, Unit

from . import crypto


class VismaSettings(models.Model):
    """What the municipality got from Visma: selskap, URL, username and password (basic auth).

    The password is only ever stored as a Fernet token (`crypto`), never as plain text.
    """

    municipality = models.OneToOneField(
        Municipality, on_delete=models.CASCADE, related_name="visma_settings"
    )
    selskap = models.CharField(_("selskap"), max_length=10)
    base_url = models.CharField(_("URL"), max_length=300)
    username = models.CharField(_("brukernavn"), max_length=100)
    password_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(_("aktivert"), default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Outcome of the latest "Test tilkobling", shown on the settings page.
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("Visma-integrasjon")
        verbose_name_plural = _("Visma-integrasjoner")
        constraints = [
            models.CheckConstraint(
                condition=Q(enabled=False) | ~Q(password_encrypted=""),
                name="visma_enabled_needs_password",
            ),
            models.CheckConstraint(condition=~Q(selskap=""), name="visma_selskap_not_empty"),
        ]

    def __str__(self) -> str:
        return f"Visma {self.municipality} ({self.selskap})"

    def __repr__(self) -> str:
        return f"<VismaSettings {self.municipality_id} selskap={self.selskap!r}>"

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def get_password(self) -> str:
        return crypto.decrypt(self.password_encrypted) if self.password_encrypted else ""

    def set_password(self, raw: str) -> None:
        self.password_encrypted = crypto.encrypt(raw) if raw else ""

    def snapshot(self) -> dict[str, object]:
        """The settings as plain data for the audit trail: never the password itself."""
        return {
            "selskap": self.selskap,
            "base_url": self.base_url,
            "username": self.username,
            "enabled": self.enabled,
            "har_passord": self.has_password,
        }


class TransferStatus(models.TextChoices):
    QUEUED = "queued", _("I kø")
    RUNNING = "running", _("Sendes")
    DONE = "done", _("Ferdig")
    STOPPED = "stopped", _("Stoppet")
    FAILED = "failed", _("Feilet")


ACTIVE_TRANSFER_STATUSES = frozenset({TransferStatus.QUEUED, TransferStatus.RUNNING})


class Transfer(models.Model):
    """One run of *Send til Visma* (or a test transfer): who, when, what, and how it went."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="visma_transfers"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    is_test = models.BooleanField(_("test"), default=False)
    period = models.CharField(_("periode"), max_length=7, blank=True)
    # The list's filters the transfer was started with (null: the whole period).
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # True when the user picked bases one by one (test transfers, retries) instead of a period.
    is_selection = models.BooleanField(default=False)
    retry_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retries"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=TransferStatus.choices, default=TransferStatus.QUEUED
    )
    basis_count = models.PositiveIntegerField(_("antall grunnlag"), default=0)
    total_ore = models.BigIntegerField(_("sum (øre)"), default=0)
    # Attempts per state ({"sent": 180, "rejected": 2, ...}), refreshed after every call.
    counts = models.JSONField(default=dict, blank=True)
    stop_reason = models.TextField(_("årsak til stopp"), blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Numbers the calls of this transfer (buntreferanse); only ever incremented in the database.
    batch_seq = models.PositiveIntegerField(default=0)
    # When a worker is already scheduled to pick up retries; keeps idle workers from piling up.
    wake_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("overføring til Visma")
        verbose_name_plural = _("overføringer til Visma")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["municipality", "-created_at"], name="transfer_tenant")]

    def __str__(self) -> str:
        kind = "TEST " if self.is_test else ""
        return f"{kind}#{self.pk} {self.period or ''}".strip()

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_TRANSFER_STATUSES


class AttemptState(models.TextChoices):
    PENDING = "pending", _("Venter")
    IN_FLIGHT = "in_flight", _("Sendes nå")
    UNKNOWN = "unknown", _("Uavklart – status hentes fra Visma")
    SENT = "sent", _("Mottatt av Visma")
    REJECTED = "rejected", _("Avvist")
    VALIDATED = "validated", _("Godkjent i test")
    FAILED = "failed", _("Feilet")


# A live attempt still owns its basis: no other real attempt for that basis may exist meanwhile.
LIVE_STATES = (AttemptState.PENDING, AttemptState.IN_FLIGHT, AttemptState.UNKNOWN)
FINAL_STATES = (
    AttemptState.SENT,
    AttemptState.REJECTED,
    AttemptState.VALIDATED,
    AttemptState.FAILED,
)
CLAIMABLE_STATES = (AttemptState.PENDING, AttemptState.UNKNOWN)


class TransferAttempt(models.Model):
    """The outbox row for one basis in one transfer."""

    # No index of its own: the unique (transfer, basis) index serves lookups by transfer.
    transfer = models.ForeignKey(
        Transfer, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    basis = models.ForeignKey(InvoiceBasis, on_delete=models.PROTECT, related_name="visma_attempts")
    # Copied from the transfer so that the partial unique constraints can see it.
    is_test = models.BooleanField(default=False)
    reference = models.CharField(_("referanse"), max_length=20)
    state = models.CharField(
        _("tilstand"), max_length=16, choices=AttemptState.choices, default=AttemptState.PENDING
    )
    # The last call carrying this basis may have reached Visma (lost reply, worker died mid-call):
    # HentStatus must be asked before the basis is sent again.
    status_check_required = models.BooleanField(default=False)
    status_checks = models.PositiveSmallIntegerField(default=0)
    # Meaningful for `failed`: the same basis can be sent again as it is (transient trouble,
    # a stopped run); rejected bases need correcting first.
    retryable = models.BooleanField(default=False)
    batch_reference = models.CharField(_("buntreferanse"), max_length=40, blank=True)
    send_count = models.PositiveSmallIntegerField(_("antall forsøk"), default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # The lease: which worker holds the row and since when. Expired leases are swept.
    claimed_by = models.CharField(max_length=100, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    grunnlag_id = models.CharField(_("grunnlagId"), max_length=40, blank=True)
    visma_status = models.CharField(_("svar fra Visma"), max_length=32, blank=True)
    # Visma's meldinger ([{"kode", "tekst", "felt"}]) for rejected bases; local checks use the same.
    messages = models.JSONField(default=list, blank=True)
    last_error = models.TextField(_("siste feil"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    first_sent_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_call_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("sendeforsøk")
        verbose_name_plural = _("sendeforsøk")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["transfer", "basis"], name="attempt_once_per_transfer"),
            models.UniqueConstraint(
                fields=["basis"],
                condition=Q(is_test=False, state__in=LIVE_STATES),
                name="attempt_one_live_per_basis",
            ),
            models.UniqueConstraint(
                fields=["basis"],
                condition=Q(is_test=False, state=AttemptState.SENT),
                name="attempt_one_sent_per_basis",
            ),
        ]
        # Partial: rows leave these indexes when they are done, so a month of 20 000 bases
        # costs less to write and the claim and sweep queries read only live rows.
        indexes = [
            models.Index(
                fields=["transfer", "id"],
                condition=Q(state__in=CLAIMABLE_STATES),
                name="attempt_claim",
            ),
            models.Index(
                fields=["claimed_at"],
                condition=Q(state=AttemptState.IN_FLIGHT),
                name="attempt_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.state})"


class BasisVismaStatus(models.Model):
    """What Visma says about a sent basis (HentStatus): invoice number, dates, KID, amount."""

    basis = models.OneToOneField(
        InvoiceBasis, on_delete=models.CASCADE, related_name="visma_status"
    )
    tilstand = models.CharField(_("tilstand i Visma"), max_length=16)
    grunnlag_id = models.CharField(_("grunnlagId"), max_length=40, blank=True)
    fakturanummer = models.CharField(_("fakturanummer"), max_length=40, blank=True)
    fakturadato = models.DateField(_("fakturadato"), null=True, blank=True)
    forfallsdato = models.DateField(_("forfallsdato"), null=True, blank=True)
    kid = models.CharField(_("KID"), max_length=25, blank=True)
    belop_ore = models.BigIntegerField(_("beløp i Visma (øre)"), null=True, blank=True)
    # Things a person should look at: an invalid KID, an amount that differs, an unknown basis.
    warnings = models.JSONField(default=list, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("status i Visma")
        verbose_name_plural = _("status i Visma")

    def __str__(self) -> str:
        return f"{self.basis_id}: {self.tilstand}"
