"""Words for codes on pages (invoices/labels.py)."""

from __future__ import annotations

from django import template

from invoices import labels

register = template.Library()


@register.filter
def issue_label(code: str) -> str:
    return labels.issue_label(code or "")


@register.filter
def field_label(path: str) -> str:
    return labels.field_label(path or "")
