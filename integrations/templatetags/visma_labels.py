"""Visma's answers in words on pages (integrations/labels.py)."""

from __future__ import annotations

from django import template

from integrations import labels

register = template.Library()


@register.filter
def visma_status(code: str) -> str:
    return labels.visma_status(code or "")
