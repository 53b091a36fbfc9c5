"""File exports: each municipality's export profile, and every export run with the bases it held.

An export is history: its rows are never deleted and its stored file never changes (SHA-256 kept).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from invoices.models import (
    AccountingSettings,
    InvoiceBasis,
    Municipality,
    Service,
    TransferRoute,
    Unit,
    default_kb_slots,  # noqa: F401 - named by migration 0001, which made the field it defaulted
    slot_problems,
)

DIM_SLOTS = 7

# Widths of the Agresso site values per layout (spec/layouts/agresso_lg04.csv).
AGRESSO_WIDTHS = {
    "classic": {
        "agresso_client": 2,
        "voucher_type": 2,
        "order_type": 2,
        "pay_method": 2,
        "responsible": 8,
        "responsible2": 8,
        "batch_id": 12,
        "order_id_digits": 9,
        "header_text": 120,
    },
    "wide": {
        "agresso_client": 25,
        "voucher_type": 25,
        "order_type": 2,
        "pay_method": 2,
        "responsible": 25,
        "responsible2": 25,
        "batch_id": 25,
        "order_id_digits": 15,
        "header_text": 120,
    },
}
# batch_id = prefix + YYMMDD + a two-character run number.
BATCH_SUFFIX_LEN = 8
HEADER_TEXT_FIELDS = frozenset({"period", "period_name", "unit_code", "unit_name", "reference"})
_SITE_CODE = re.compile(r"^[A-Za-z0-9_-]*$")


class VismaLayout(models.TextChoices):
    EXTENDED = "extended", _("Utvidet (U)")
    BASIC = "basic", _("Enkel")


class FileEncoding(models.TextChoices):
    ISO_8859_1 = "iso-8859-1", "ISO-8859-1"
    CP1252 = "cp1252", "Windows-1252"


class LineEnding(models.TextChoices):
    CRLF = "crlf", "CRLF (Windows)"
    LF = "lf", "LF"


class QuantityDecimals(models.IntegerChoices):
    TWO = 2, _("To desimaler (1 = 000000100)")
    ZERO = 0, _("Hele enheter (1 = 000000001)")


class AgressoLayout(models.TextChoices):
    CLASSIC = "classic", _("Klassisk (1905 tegn)")
    WIDE = "wide", _("Bred (4324 tegn)")


class CustomerMode(models.TextChoices):
    APAR_ID = "apar_id", _("Kundenummer i UBW (apar_id)")
    ID_IN_TEXT = "id_in_text", _("Fødselsnr./org.nr. i tekst3 og tekst4")


def _blank_slots(n: int) -> list[str]:
    return [""] * n


def default_dim_slots() -> list[str]:
    return _blank_slots(DIM_SLOTS)


class ExportProfile(models.Model):
    """Per-municipality settings every export format reads. Changed only by the systemadministrator,
    and every change is audited with before and after."""

    municipality = models.OneToOneField(
        Municipality, on_delete=models.CASCADE, related_name="export_profile"
    )
    encoding = models.CharField(
        _("tegnsett"), max_length=16, choices=FileEncoding.choices, default=FileEncoding.ISO_8859_1
    )
    line_ending = models.CharField(
        _("linjeskift"), max_length=4, choices=LineEnding.choices, default=LineEnding.CRLF
    )
    include_zero_amount = models.BooleanField(
        _("ta med grunnlag på 0 kr"),
        default=True,
        help_text=_("Av: grunnlag med sum 0 kr hoppes over og blir stående som godkjent."),
    )

    # Visma Enterprise Fakturering
    visma_layout = models.CharField(
        _("Visma-format"), max_length=16, choices=VismaLayout.choices, default=VismaLayout.EXTENDED
    )
    quantity_decimals = models.PositiveSmallIntegerField(
        _("antall (GRUNNLAG)"), choices=QuantityDecimals.choices, default=QuantityDecimals.TWO
    )

    # Agresso / UBW LG04
    agresso_layout = models.CharField(
        _("Agresso-format"),
        max_length=8,
        choices=AgressoLayout.choices,
        default=AgressoLayout.CLASSIC,
    )
    agresso_client = models.CharField(_("firma (client)"), max_length=25, blank=True)
    voucher_type = models.CharField(_("bilagsart (voucher_type)"), max_length=25, blank=True)
    order_type = models.CharField(_("ordretype"), max_length=2, blank=True)
    pay_method = models.CharField(_("betalingsmåte"), max_length=2, blank=True)
    responsible = models.CharField(_("ansvarlig"), max_length=25, blank=True)
    responsible2 = models.CharField(_("ansvarlig 2"), max_length=25, blank=True)
    batch_prefix = models.CharField(
        _("batch-prefiks"),
        max_length=17,
        blank=True,
        help_text=_("batch_id = prefiks + ÅÅMMDD + løpenummer."),
    )
    order_id_start = models.BigIntegerField(_("ordrenummer fra"), null=True, blank=True)
    order_id_end = models.BigIntegerField(_("ordrenummer til"), null=True, blank=True)
    # The next unused order id. Only ever moves forward (see services.order_ids_allocate).
    order_id_next = models.BigIntegerField(_("neste ordrenummer"), null=True, blank=True)
    customer_mode = models.CharField(
        _("kundereferanse"),
        max_length=16,
        choices=CustomerMode.choices,
        default=CustomerMode.APAR_ID,
    )
    dim_slots = models.JSONField(
        _("dimensjoner dim_1–dim_7"), default=default_dim_slots, blank=True
    )
    dim_required = models.JSONField(
        _("påkrevde dimensjoner"),
        default=list,
        blank=True,
        help_text=_("Slotnumre (1–7) som må ha verdi, ellers stoppes eksporten."),
    )
    header_text_template = models.CharField(
        _("topptekst (long_info1)"),
        max_length=120,
        blank=True,
        default="{unit_name} {period_name}",
        help_text=_(
            "Felter: {unit_name}, {unit_code}, {period} (2026-10), {period_name} (oktober 2026), "
            "{reference}."
        ),
    )
    cs15_enabled = models.BooleanField(_("lag kundefil CS15"), default=False)
    cs15_customer_group = models.CharField(
        _("kundegruppe i CS15"), max_length=2, blank=True, help_text=_("Tom = UBWs standard.")
    )

    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("eksportoppsett")
        verbose_name_plural = _("eksportoppsett")
        constraints = [
            models.CheckConstraint(
                condition=Q(order_id_start__isnull=True)
                | (
                    Q(order_id_start__gte=1)
                    & Q(order_id_end__gte=models.F("order_id_start"))
                    & Q(order_id_next__gte=models.F("order_id_start"))
                ),
                name="profile_order_series_range",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Eksportoppsett for %(m)s") % {"m": self.municipality})

    # --- validation -----------------------------------------------------------------------------

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        for message in slot_problems(self.dim_slots, DIM_SLOTS, self._known_dimension_keys()):
            add("dim_slots", message)
        required = self.dim_required
        if not isinstance(required, list) or any(
            not isinstance(n, int) or not 1 <= n <= DIM_SLOTS for n in required
        ):
            add("dim_required", str(_("Påkrevde dimensjoner er slotnumre fra 1 til 7.")))
        elif isinstance(self.dim_slots, list) and len(self.dim_slots) == DIM_SLOTS:
            for n in required:
                if not self.dim_slots[n - 1]:
                    add(
                        "dim_required",
                        str(
                            _("dim_%(n)d er påkrevd, men ingen dimensjon er valgt for den.")
                            % {"n": n}
                        ),
                    )

        self._clean_agresso(add)
        if errors:
            raise ValidationError(errors)

    def _clean_agresso(self, add: Callable[[str, str], None]) -> None:
        widths = AGRESSO_WIDTHS[self.agresso_layout]
        for field in (
            "agresso_client",
            "voucher_type",
            "order_type",
            "pay_method",
            "responsible",
            "responsible2",
        ):
            value = getattr(self, field)
            if len(value) > widths[field]:
                add(
                    field,
                    str(_("Høyst %(n)d tegn i valgt Agresso-format.") % {"n": widths[field]}),
                )
            if not _SITE_CODE.fullmatch(value):
                add(field, str(_("Bare bokstaver A–Z, siffer, - og _.")))
        prefix_max = widths["batch_id"] - BATCH_SUFFIX_LEN
        if len(self.batch_prefix) > prefix_max:
            add(
                "batch_prefix",
                str(_("Høyst %(n)d tegn i valgt Agresso-format.") % {"n": prefix_max}),
            )
        if not _SITE_CODE.fullmatch(self.batch_prefix):
            add("batch_prefix", str(_("Bare bokstaver A–Z, siffer, - og _.")))

        start, end = self.order_id_start, self.order_id_end
        if (start is None) != (end is None):
            add("order_id_end", str(_("Oppgi både start og slutt på ordrenummerserien.")))
        elif start is not None and end is not None:
            limit = 10 ** widths["order_id_digits"] - 1
            if start < 1:
                add("order_id_start", str(_("Ordrenummer må være større enn 0.")))
            if end < start:
                add("order_id_end", str(_("Slutt må være større enn eller lik start.")))
            if end > limit:
                add(
                    "order_id_end",
                    str(
                        _("Høyst %(n)d siffer i valgt Agresso-format.")
                        % {"n": widths["order_id_digits"]}
                    ),
                )

        template = self.header_text_template
        try:
            names = {
                name for _, name, _, _ in string.Formatter().parse(template) if name is not None
            }
        except ValueError:
            add("header_text_template", str(_("Ugyldig mal: sjekk krøllparentesene.")))
        else:
            unknown = sorted(names - HEADER_TEXT_FIELDS)
            if unknown:
                add(
                    "header_text_template",
                    str(_("Ukjente felter i malen: %(f)s.") % {"f": ", ".join(unknown)}),
                )

        if self.cs15_enabled and self.customer_mode != CustomerMode.APAR_ID:
            add(
                "cs15_enabled",
                str(_("Kundefilen CS15 oppretter kunder etter kundenummer: velg apar_id.")),
            )
        if self.route() == TransferRoute.AGRESSO_FILE:
            for field in ("agresso_client", "voucher_type", "order_type", "responsible"):
                if not getattr(self, field):
                    add(field, str(_("Påkrevd for Agresso-eksport.")))
            if start is None:
                add("order_id_start", str(_("Agresso-eksport trenger en ordrenummerserie.")))

    # The route the profile is checked against: the municipality's accounting settings, or the
    # route a form is about to save together with the profile.
    planned_route: str | None = None

    def route(self) -> str:
        if self.planned_route:
            return self.planned_route
        settings_ = AccountingSettings.objects.filter(municipality_id=self.municipality_id).first()
        return settings_.transfer_route if settings_ is not None else TransferRoute.VISMA_FILE

    def _known_dimension_keys(self) -> set[str] | None:
        if self.municipality_id is None:
            return None
        return set(
            self.municipality.dimensions.values_list("key", flat=True)  # type: ignore[attr-defined]
        )

    # --- reading ---------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """The settings as plain data, for the audit trail's before/after."""
        return {
            f.name: getattr(self, f.attname)
            for f in self._meta.concrete_fields
            if f.name not in {"id", "municipality", "updated_at", "updated_by"}
        }


class ExportFormat(models.TextChoices):
    VISMA = "visma", _("Visma Fakturering")
    AGRESSO = "agresso", _("Agresso LG04")


FORMAT_LAYOUTS: dict[str, tuple[str, ...]] = {
    ExportFormat.VISMA.value: tuple(VismaLayout.values),
    ExportFormat.AGRESSO.value: tuple(AgressoLayout.values),
}
FILE_PREFIX: dict[str, str] = {
    ExportFormat.VISMA.value: "VISMA",
    ExportFormat.AGRESSO.value: "AGRESSO_LG04",
}


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("I kø")
    RUNNING = "running", _("Lages")
    DONE = "done", _("Ferdig")
    REFUSED = "refused", _("Stoppet av kontrollen")
    FAILED = "failed", _("Feilet")


FINISHED_STATUSES = frozenset({ExportStatus.DONE, ExportStatus.REFUSED, ExportStatus.FAILED})


class ExportPhase(models.TextChoices):
    VALIDATING = "validating", _("Kontrollerer grunnlagene")
    WRITING = "writing", _("Skriver filen")
    SAVING = "saving", _("Lagrer og låser grunnlagene")


def export_upload_to(instance: Export, filename: str) -> str:
    return f"exports/{instance.municipality.number}/{instance.period}/{filename}"


class Export(models.Model):
    """One file run: what was asked for, what it found, what it wrote, and which bases it held."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(_("format"), max_length=16, choices=ExportFormat.choices)
    layout = models.CharField(_("variant"), max_length=16)
    period = models.CharField(_("periode"), max_length=7)
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Only the bases with a line of this service (the list's service filter); null = all.
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # An explicit selection of bases (re-export, small test files); null = all in period/unit.
    basis_ids = models.JSONField(null=True, blank=True)
    is_test = models.BooleanField(_("testfil"), default=False, help_text=_("Låser ingen grunnlag."))
    override = models.BooleanField(_("overstyrt"), default=False)
    override_reason = models.TextField(_("begrunnelse for overstyring"), blank=True)

    status = models.CharField(
        _("status"), max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    phase = models.CharField(max_length=16, choices=ExportPhase.choices, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    count = models.PositiveIntegerField(_("antall grunnlag"), default=0)
    total_ore = models.BigIntegerField(_("sum (øre)"), default=0)
    records = models.PositiveIntegerField(_("antall poster"), default=0)

    seq = models.PositiveIntegerField(null=True, blank=True)
    file_name = models.CharField(_("filnavn"), max_length=100, blank=True)
    file = models.FileField(upload_to=export_upload_to, max_length=255, blank=True)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    customer_file_name = models.CharField(_("kundefil"), max_length=100, blank=True)
    customer_file = models.FileField(upload_to=export_upload_to, max_length=255, blank=True)
    customer_sha256 = models.CharField(max_length=64, blank=True)
    batch_id = models.CharField(max_length=25, blank=True)
    order_id_first = models.BigIntegerField(null=True, blank=True)
    order_id_last = models.BigIntegerField(null=True, blank=True)

    findings = models.JSONField(_("kontrollrapport"), default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    failure = models.TextField(_("feil"), blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The run that currently owns the export, and until when; a crashed run's lease lapses and
    # the next delivery of the task takes over.
    run_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("eksport")
        verbose_name_plural = _("eksporter")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "format", "period", "seq"], name="export_seq_per_period"
            ),
            models.CheckConstraint(
                condition=Q(override=False) | ~Q(override_reason=""),
                name="export_override_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | (~Q(sha256="") & ~Q(file="")),
                name="export_done_has_file",
            ),
        ]
        indexes = [models.Index(fields=["municipality", "-created_at"], name="export_history")]

    def __str__(self) -> str:
        return self.file_name or f"{self.get_format_display()} {self.period} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def layout_label(self) -> str:
        """The variant in words ("Utvidet (U)", "Klassisk (1905 tegn)")."""
        choices = VismaLayout if self.format == ExportFormat.VISMA else AgressoLayout
        try:
            return str(choices(self.layout).label)
        except ValueError:
            return self.layout

    @property
    def errors(self) -> list[dict[str, object]]:
        return [f for f in self.findings if f.get("severity") == "error"]

    @property
    def warnings(self) -> list[dict[str, object]]:
        return [f for f in self.findings if f.get("severity") == "warning"]

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)


class ExportItem(models.Model):
    """One basis in one export, with the state it was written in (so a change is detected)."""

    # Found by export through the unique (export, basis) index.
    export = models.ForeignKey(
        Export, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    basis = models.ForeignKey(InvoiceBasis, on_delete=models.PROTECT, related_name="export_items")
    total_ore = models.BigIntegerField()
    content_hash = models.CharField(max_length=64)
    basis_status = models.CharField(max_length=16)
    basis_approved_at = models.DateTimeField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("grunnlag i eksport")
        verbose_name_plural = _("grunnlag i eksport")
        ordering = ["export_id", "basis_id"]
        constraints = [
            models.UniqueConstraint(fields=["export", "basis"], name="export_item_once"),
        ]

    def __str__(self) -> str:
        return f"{self.export_id}/{self.basis_id}"
