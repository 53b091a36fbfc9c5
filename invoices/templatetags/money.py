"""Money and identifiers for people: øre shown as kroner, national ids masked."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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
def money(value: int | None) -> str:
    """Integer øre as people read an amount on every page: '1 234,56 kr', '−2,50 kr'."""
    return f"{kr(value)}\u00a0kr"


@register.filter
def quantity(value: object) -> str:
    """A quantity with two decimals and a decimal comma, negatives with the same minus sign as
    money: Decimal('-2.5') → '−2,50'."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    sign = "−" if number < 0 else ""
    whole, frac = f"{abs(number):.2f}".split(".")
    return f"{sign}{int(whole):,}".replace(",", "\u00a0") + f",{frac}"


@register.filter
def filesize(value: int | None) -> str:
    """Bytes for people: '671 kB', '1,2 MB' (decimal units, as file managers show them)."""
    size = int(value or 0)
    if size < 1000:
        return f"{size}\u00a0B"
    if size < 1_000_000:
        return f"{round(size / 1000)}\u00a0kB"
    return f"{size / 1_000_000:.1f}".replace(".", ",") + "\u00a0MB"


@register.filter
def masked(value: str | None) -> str:
    return mask_national_id(value or "")
