"""Operator views of exports. History is read-only here: exports change only through services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Export, ExportProfile


@admin.register(ExportProfile)
class ExportProfileAdmin(admin.ModelAdmin):
    list_display = ("municipality", "visma_layout", "agresso_layout")
    readonly_fields = [f.name for f in ExportProfile._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Changes go through the Eksportoppsett page, which validates and audits them.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "municipality",
        "format",
        "period",
        "status",
        "count",
        "file_name",
        "is_test",
        "override",
    )
    list_filter = ("status", "format", "is_test", "override", "municipality")
    search_fields = ("file_name", "sha256")
    readonly_fields = [f.name for f in Export._meta.concrete_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
