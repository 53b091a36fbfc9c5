"""Money and identifiers for people: øre shown as kroner, national ids masked."""

from __future__ import annotations

from django import template

from invoices.identifiers import mask_national_id

register = template.Library()


@register.filter
def kr(value: int | None) -> str:
    """Integer øre as Norwegian kroner: 123456 → '1 234,56'. Display only, never in files."""
    if value is None:
        value = 0
    sign = "−" if value < 0 else ""
    kroner, ore = divmod(abs(int(value)), 100)
    grouped = f"{kroner:,}".replace(",", "\u00a0")
    return f"{sign}{grouped},{ore:02d}"


@register.filter
def masked(value: str | None) -> str:
    return mask_national_id(value or "")
