"""Parties, invoice bases and their lines.

Money is integer øre everywhere (BigIntegerField); quantities are Decimal with two places.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .tenancy import Municipality, Service, Unit


class Party(models.Model):
    """A person (fnr/D-nr/H-nr) or an organisation (orgnr): payer or recipient of bases.

    One row per identifier per municipality; intake keeps name and address current.
    """

    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, related_name="parties")
    national_id = models.CharField(_("fødselsnummer"), max_length=11, blank=True)
    org_number = models.CharField(_("organisasjonsnummer"), max_length=9, blank=True)
    name = models.CharField(_("navn"), max_length=100)
    address1 = models.CharField(_("adresse 1"), max_length=100, blank=True)
    address2 = models.CharField(_("adresse 2"), max_length=100, blank=True)
    postcode = models.CharField(_("postnummer"), max_length=4, blank=True)
    place = models.CharField(_("poststed"), max_length=100, blank=True)
    # Agresso customer number (apar_id) where the municipality references customers that way.
    customer_number = models.CharField(
        _("kundenummer i økonomisystemet"), max_length=25, blank=True
    )

    class Meta:
        verbose_name = _("person/organisasjon")
        verbose_name_plural = _("personer/organisasjoner")
        constraints = [
            models.CheckConstraint(
                condition=(Q(national_id="") & ~Q(org_number=""))
                | (~Q(national_id="") & Q(org_number="")),
                name="party_exactly_one_identifier",
            ),
            models.UniqueConstraint(
                fields=["municipality", "national_id", "org_number"], name="party_identifier_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked_identifier})"

    @property
    def identifier(self) -> str:
        return self.national_id or self.org_number

    @property
    def masked_identifier(self) -> str:
        from ..identifiers import mask_national_id

        return mask_national_id(self.national_id) if self.national_id else self.org_number

    @property
    def is_organisation(self) -> bool:
        return bool(self.org_number)


class BasisKind(models.TextChoices):
    INVOICE = "invoice", _("Faktura")
    CREDIT = "credit", _("Kreditnota")


class BasisStatus(models.TextChoices):
    RECEIVED = "received", _("Mottatt")
    APPROVED = "approved", _("Godkjent")
    EXPORTED = "exported", _("Eksportert")
    SENDING = "sending", _("Sendes")
    SENT = "sent", _("Sendt")
    FAILED = "failed", _("Feilet")


def basis_reference(municipality_number: str, pk: int) -> str:
    """The stable reference a basis is known by in files and in Visma (≤ 20 characters, never
    reused): `InvoiceBasis.reference` without loading the basis."""
    return f"{municipality_number}-{pk:09d}"


# Bases in these states have left (or are leaving) the product: never edited again.
LOCKED_STATUSES = frozenset({BasisStatus.EXPORTED, BasisStatus.SENDING, BasisStatus.SENT})


class InvoiceBasis(models.Model):
    """One payer, one period, one or more lines: becomes one invoice in the accounting system."""

    # No single-column indexes on municipality or period: every query names the municipality,
    # and the indexes in Meta lead with (municipality, period). Each index costs a write on every
    # status change, and a month's status changes are many.
    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, related_name="invoice_bases", db_index=False
    )
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="invoice_bases")
    period = models.CharField(_("periode"), max_length=7)
    payer = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="bases_as_payer")
    recipient = models.ForeignKey(
        Party, on_delete=models.PROTECT, related_name="bases_as_recipient"
    )
    source_reference = models.CharField(_("kildereferanse"), max_length=64)
    kind = models.CharField(
        _("type"), max_length=8, choices=BasisKind.choices, default=BasisKind.INVOICE
    )
    credits = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name=_("krediterer"),
    )
    # Why a credit note made in the product credits what it does (the clerk's words); empty for
    # invoices and for credit notes from the care system.
    credit_reason = models.CharField(
        _("begrunnelse"), max_length=500, blank=True, default="", db_default=""
    )
    status = models.CharField(
        _("status"), max_length=16, choices=BasisStatus.choices, default=BasisStatus.RECEIVED
    )
    # Set by a channel when the receiver refused the basis and stored nothing of it: such a
    # failed basis may be taken back and corrected. Any other failure is sent again instead.
    refused_by_receiver = models.BooleanField(
        _("avvist av mottaker"), default=False, db_default=False
    )
    # Sum of the lines, kept in step by the services that write lines; lists and exports read it.
    total_ore = models.BigIntegerField(_("sum (øre)"), default=0)
    line_count = models.PositiveSmallIntegerField(_("antall linjer"), default=0)
    # SHA-256 of the normalized intake document: tells a safe retry from a correction.
    content_hash = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("fakturagrunnlag")
        verbose_name_plural = _("fakturagrunnlag")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "source_reference"], name="source_reference_per_tenant"
            ),
            models.CheckConstraint(
                condition=Q(period__regex=r"^[0-9]{4}-(0[1-9]|1[0-2])$"), name="basis_period_format"
            ),
            models.CheckConstraint(
                condition=(Q(kind="invoice") & Q(credits__isnull=True) & Q(total_ore__gte=0))
                | (Q(kind="credit") & Q(credits__isnull=False) & Q(total_ore__lte=0)),
                name="basis_kind_sign_and_link",
            ),
        ]
        indexes = [
            models.Index(fields=["municipality", "period", "status"], name="basis_tenant_period"),
            # A month's bases in id order: the list's pages (first and last alike) read only that
            # month's entries, whatever else the table holds.
            models.Index(fields=["municipality", "period", "id"], name="basis_tenant_period_id"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """The stable reference sent to the accounting system (≤ 20 characters, never reused)."""
        return basis_reference(self.municipality.number, self.pk)

    @property
    def is_locked(self) -> bool:
        return self.status in LOCKED_STATUSES


class InvoiceLine(models.Model):
    # Found by basis through the unique (basis, line_no) index; a second index on basis alone
    # would cost a write per line on intake and serve nothing.
    basis = models.ForeignKey(
        InvoiceBasis, on_delete=models.CASCADE, related_name="lines", db_index=False
    )
    line_no = models.PositiveSmallIntegerField(_("linjenr"))
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="lines")
    description = models.CharField(_("beskrivelse"), max_length=200, blank=True)
    quantity = models.DecimalField(_("antall"), max_digits=9, decimal_places=2)
    unit_price_ore = models.BigIntegerField(_("enhetspris (øre)"))
    amount_ore = models.BigIntegerField(_("beløp (øre)"))
    service_from = models.DateField(_("tjeneste fra"), null=True, blank=True)
    service_to = models.DateField(_("tjeneste til"), null=True, blank=True)
    texts = models.JSONField(_("tekstlinjer"), default=list, blank=True)
    dimensions = models.JSONField(_("kontering"), default=dict, blank=True)

    class Meta:
        verbose_name = _("linje")
        verbose_name_plural = _("linjer")
        ordering = ["basis_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["basis", "line_no"], name="line_no_per_basis"),
            models.CheckConstraint(
                condition=Q(line_no__gte=1) & Q(line_no__lte=99), name="line_no_1_99"
            ),
            models.CheckConstraint(
                condition=Q(unit_price_ore__gt=-(10**8)) & Q(unit_price_ore__lt=10**8),
                name="line_unit_price_range",
            ),
            models.CheckConstraint(
                condition=Q(amount_ore__gt=-(10**10)) & Q(amount_ore__lt=10**10),
                name="line_amount_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.basis_id}/{self.line_no}"


# The line columns every bulk reader and writer of the month uses, in this order (intake's COPY,
# the export reader, the Visma mapping).
LINE_COLUMNS = (
    "basis_id",
    "line_no",
    "service_id",
    "description",
    "quantity",
    "unit_price_ore",
    "amount_ore",
    "service_from",
    "service_to",
    "texts",
    "dimensions",
)
