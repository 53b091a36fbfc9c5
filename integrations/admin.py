"""Read-only views for operators (driftsadmin). Changes go through the pages and services, which
check roles and write the audit trail; the password is never shown here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import BasisVismaStatus, Transfer, TransferAttempt, VismaSettings


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VismaSettings)
class VismaSettingsAdmin(ReadOnlyAdmin):
    list_display = ("municipality", "selskap", "base_url", "username", "enabled", "updated_at")
    exclude = ("password_encrypted",)
    readonly_fields = ("has_password",)

    @admin.display(boolean=True, description="passord lagret")
    def has_password(self, obj: VismaSettings) -> bool:
        return obj.has_password


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "municipality",
        "is_test",
        "period",
        "status",
        "basis_count",
        "created_at",
    )
    list_filter = ("status", "is_test", "municipality")


@admin.register(TransferAttempt)
class TransferAttemptAdmin(ReadOnlyAdmin):
    list_display = ("id", "transfer", "reference", "state", "send_count", "visma_status")
    list_filter = ("state", "is_test")
    search_fields = ("reference", "grunnlag_id", "batch_reference")
    raw_id_fields = ("transfer", "basis")


@admin.register(BasisVismaStatus)
class BasisVismaStatusAdmin(ReadOnlyAdmin):
    list_display = ("basis", "tilstand", "fakturanummer", "forfallsdato", "checked_at")
    raw_id_fields = ("basis",)
