"""The tenant and what it defines: municipalities, memberships and roles, units, dimensions, the
service catalogue, and the accounting settings both channels read."""

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
