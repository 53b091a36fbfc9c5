"""Operators' admin (`/driftsadmin/`): tenants, memberships and catalogue are edited here; invoice
bases, parties, tokens and the audit trail are read-only, because their writes go through the
services (intake, approval, export) that keep totals, states and the audit trail right.
National ids are masked on every list and page here, and never searched for."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import (
    AccountingSettings,
    ApiToken,
    AuditEvent,
    DimensionDefinition,
    InvoiceBasis,
    InvoiceLine,
    Membership,
    Municipality,
    Party,
    Service,
    Unit,
)
from .services import api_token_revoke
from .templatetags.money import kr


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name", "org_number", "created_at"]
    search_fields = ["number", "name"]


@admin.register(AccountingSettings)
class AccountingSettingsAdmin(ReadOnlyAdmin):
    """Edited on the *Eksportoppsett* page, where every change is audited."""

    list_display = ["municipality", "transfer_route", "default_oppdragsgiver"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "municipality", "role"]
    list_filter = ["role", "municipality"]
    search_fields = ["user__username"]
    list_select_related = ["user", "municipality"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "municipality"]
    list_filter = ["municipality"]
    search_fields = ["code", "name"]


@admin.register(DimensionDefinition)
class DimensionDefinitionAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "position", "municipality"]
    list_filter = ["municipality"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "municipality",
        "visma_oppdragsgiver",
        "visma_vare",
        "agresso_article",
        "billable",
        "valid_from",
        "valid_to",
    ]
    list_filter = ["municipality", "billable"]
    search_fields = ["code", "name"]


@admin.register(Party)
class PartyAdmin(ReadOnlyAdmin):
    list_display = ["name", "masked_id", "municipality", "postcode", "place"]
    list_filter = ["municipality"]
    # Never by national id: the admin searches with GET, so the number would end up in the address
    # bar, the browser history and the access log (docs/security.md). Organisation numbers are
    # public; exact matches only.
    search_fields = ["name", "=org_number"]
    search_help_text = _(
        "Søk på navn eller helt organisasjonsnummer. Fødselsnummer kan ikke søkes."
    )
    list_select_related = ["municipality"]
    # The change page shows the fields read-only; the full number is left out, its mask shown.
    fields = [
        "municipality",
        "name",
        "masked_id",
        "address1",
        "address2",
        "postcode",
        "place",
        "customer_number",
    ]
    readonly_fields = ["masked_id"]

    @admin.display(description=_("fødselsnr./org.nr."))
    def masked_id(self, obj: Party) -> str:
        return obj.masked_identifier


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("line_no", "service", "description", "quantity", "unit_price_ore", "amount_ore")
    readonly_fields = fields


@admin.register(InvoiceBasis)
class InvoiceBasisAdmin(ReadOnlyAdmin):
    list_display = [
        "source_reference",
        "reference",
        "municipality",
        "period",
        "unit",
        "kind",
        "status",
        "total_kr",
        "payer_masked",
    ]
    list_filter = ["status", "kind", "municipality", "period"]
    search_fields = ["=source_reference"]
    list_select_related = ["municipality", "unit", "payer"]
    exclude = ["payer", "recipient"]
    readonly_fields = ["payer_masked", "recipient_masked"]
    inlines = [InvoiceLineInline]
    show_full_result_count = False

    @admin.display(description=_("sum kr"))
    def total_kr(self, obj: InvoiceBasis) -> str:
        return kr(obj.total_ore)

    @admin.display(description=_("betaler"))
    def payer_masked(self, obj: InvoiceBasis) -> str:
        return f"{obj.payer.name} ({obj.payer.masked_identifier})"

    @admin.display(description=_("tjenestemottaker"))
    def recipient_masked(self, obj: InvoiceBasis) -> str:
        return f"{obj.recipient.name} ({obj.recipient.masked_identifier})"


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "municipality", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["municipality"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    @admin.action(description=_("Trekk tilbake valgte API-nøkler"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token, request.user)
        self.message_user(request, _("Nøklene er trukket tilbake."), messages.SUCCESS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The revoke action needs change permission on the list; the form itself stays read-only.
        return obj is None and bool(request.user.is_superuser)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "actor_label",
        "municipality",
        "object_type",
        "object_id",
    ]
    list_filter = ["action", "municipality"]
    date_hierarchy = "created_at"
