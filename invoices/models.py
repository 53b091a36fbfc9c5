"""The invoice-basis domain: tenants, catalogue, parties, invoice bases and their lines, audit.

Money is integer øre everywhere (BigIntegerField); quantities are Decimal with two places.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Municipality(models.Model):
    """The tenant. Nobody ever sees another municipality's data."""

    name = models.CharField(_("navn"), max_length=100)
    number = models.CharField(_("kommunenummer"), max_length=4, unique=True)
    org_number = models.CharField(_("organisasjonsnummer"), max_length=9, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("kommune")
        verbose_name_plural = _("kommuner")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(number__regex=r"^[0-9]{4}$"), name="municipality_number_4_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class Role(models.TextChoices):
    SYSTEMADMINISTRATOR = "systemadministrator", _("Systemadministrator")
    MERKANTIL = "merkantil", _("Merkantil / fakturaansvarlig")
    SUPERBRUKER = "superbruker", _("Superbruker")
    LESETILGANG = "lesetilgang", _("Lesetilgang")


class Membership(models.Model):
    """A user's role in one municipality. A user may belong to several municipalities."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("rolle"), max_length=32, choices=Role.choices)

    class Meta:
        verbose_name = _("medlemskap")
        verbose_name_plural = _("medlemskap")
        constraints = [
            models.UniqueConstraint(fields=["user", "municipality"], name="one_role_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.municipality} ({self.role})"


class Unit(models.Model):
    """Organisational unit (enhet). Created on first use by intake; approval is per unit."""

    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, related_name="units")
    code = models.CharField(_("kode"), max_length=32)
    name = models.CharField(_("navn"), max_length=100)

    class Meta:
        verbose_name = _("enhet")
        verbose_name_plural = _("enheter")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "code"], name="unit_code_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class DimensionDefinition(models.Model):
    """An accounting dimension the municipality uses (ansvar, tjeneste, prosjekt, objekt …)."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="dimensions"
    )
    key = models.SlugField(_("nøkkel"), max_length=32)
    name = models.CharField(_("navn"), max_length=64)
    position = models.PositiveSmallIntegerField(_("rekkefølge"), default=0)

    class Meta:
        verbose_name = _("dimensjon")
        verbose_name_plural = _("dimensjoner")
        ordering = ["position", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "key"], name="dimension_key_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    """A billable service in the municipality's catalogue, with its accounting mapping."""

    municipality = models.ForeignKey(
        Municipality, on_delete=models.CASCADE, related_name="services"
    )
    code = models.CharField(_("kode"), max_length=32)
    name = models.CharField(_("navn"), max_length=100)
    visma_oppdragsgiver = models.CharField(
        _("Visma oppdragsgiver"),
        max_length=3,
        blank=True,
        help_text=_("3 siffer. Tom = kommunens standard oppdragsgiver."),
    )
    visma_vare = models.CharField(_("Visma varenummer"), max_length=4, blank=True)
    agresso_article = models.CharField(_("Agresso artikkel"), max_length=25, blank=True)
    vat_code = models.CharField(_("MVA-kode"), max_length=3, blank=True)
    default_dimensions = models.JSONField(_("standard kontering"), default=dict, blank=True)
    valid_from = models.DateField(_("gyldig fra"), null=True, blank=True)
    valid_to = models.DateField(_("gyldig til"), null=True, blank=True)
    billable = models.BooleanField(_("fakturerbar"), default=True)

    class Meta:
        verbose_name = _("tjeneste")
        verbose_name_plural = _("tjenester")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "code"], name="service_code_per_tenant"
            ),
            models.CheckConstraint(
                condition=Q(visma_oppdragsgiver="") | Q(visma_oppdragsgiver__regex=r"^[0-9]{3}$"),
                name="service_oppdragsgiver_3_digits",
            ),
            models.CheckConstraint(
                condition=Q(visma_vare="") | Q(visma_vare__regex=r"^[0-9]{4}$"),
                name="service_vare_4_digits",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_to__gte=models.F("valid_from")),
                name="service_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TransferRoute(models.TextChoices):
    """How the municipality's month reaches its accounting system; both channels ask it."""

    VISMA_FILE = "visma_file", _("Visma Fakturering – importfil")
    AGRESSO_FILE = "agresso_file", _("Agresso / UBW – ordreimport LG04")
    VISMA_API = "visma_api", _("Visma – direkte via webtjeneste")


# Visma's kontering slots KB01–KB10, the same in the import file and in the web service.
KB_SLOTS = 10


def default_kb_slots() -> list[str]:
    return [""] * KB_SLOTS


class AccountingSettings(models.Model):
    """What every transfer route reads of the municipality's accounting set-up, next to the service
    catalogue: the route it uses, the Visma oppdragsgiver for services without their own, and which
    dimension goes in which Visma kontering slot. Each channel keeps only its own settings.

    Changed only by the systemadministrator, and every change is audited with before and after.
    """

    municipality = models.OneToOneField(
        Municipality, on_delete=models.CASCADE, related_name="accounting"
    )
    transfer_route = models.CharField(
        _("overføring"),
        max_length=16,
        choices=TransferRoute.choices,
        default=TransferRoute.VISMA_FILE,
    )
    default_oppdragsgiver = models.CharField(
        _("standard oppdragsgiver"),
        max_length=3,
        blank=True,
        help_text=_("3 siffer; brukes for tjenester uten egen oppdragsgiver."),
    )
    kb_slots = models.JSONField(
        _("kontering KB01–KB10"),
        default=default_kb_slots,
        blank=True,
        help_text=_("Hvilken dimensjon som går i hver KB-plass; tom = varens standard."),
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("regnskapsoppsett")
        verbose_name_plural = _("regnskapsoppsett")
        constraints = [
            models.CheckConstraint(
                condition=Q(default_oppdragsgiver="")
                | Q(default_oppdragsgiver__regex=r"^[0-9]{3}$"),
                name="accounting_oppdragsgiver_3_digits",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Regnskapsoppsett for %(m)s") % {"m": self.municipality})

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.default_oppdragsgiver and not re.fullmatch(r"[0-9]{3}", self.default_oppdragsgiver):
            errors["default_oppdragsgiver"] = [str(_("Oppdragsgiver er tre siffer, f.eks. 013."))]
        known = (
            set(self.municipality.dimensions.values_list("key", flat=True))  # type: ignore[attr-defined]
            if self.municipality_id is not None
            else None
        )
        slot_errors = slot_problems(self.kb_slots, KB_SLOTS, known)
        if slot_errors:
            errors["kb_slots"] = slot_errors
        if errors:
            raise ValidationError(errors)

    @property
    def kb_slot_map(self) -> dict[int, str]:
        """KB slot number (1–10) → dimension key, for the slots in use."""
        return {i: key for i, key in enumerate(self.kb_slots[:KB_SLOTS], start=1) if key}

    def snapshot(self) -> dict[str, object]:
        """The settings as plain data, for the audit trail's before/after."""
        return {
            "transfer_route": self.transfer_route,
            "default_oppdragsgiver": self.default_oppdragsgiver,
            "kb_slots": list(self.kb_slots),
        }


def slot_problems(slots: object, size: int, known_keys: set[str] | None) -> list[str]:
    """What is wrong with a list of dimension slots (each a dimension key of the municipality or
    "", exactly `size` of them), in Bokmål; empty when nothing is."""
    if not isinstance(slots, list) or len(slots) != size:
        return [str(_("Må ha nøyaktig %(n)d plasser.") % {"n": size})]
    problems = []
    for i, key in enumerate(slots, start=1):
        if not isinstance(key, str):
            problems.append(str(_("Plass %(i)d er ugyldig.") % {"i": i}))
        elif key and known_keys is not None and key not in known_keys:
            problems.append(
                str(
                    _("Plass %(i)d: «%(key)s» er ikke en dimensjon i kommunen.")
                    % {"i": i, "key": key}
                )
            )
    return problems


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
        from .identifiers import mask_national_id

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

    municipality = models.ForeignKey(
        Municipality, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
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

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action}"
