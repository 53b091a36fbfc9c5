"""Words for codes stored in a warning's figures."""

from __future__ import annotations

from django import template

from invoices.models import BasisStatus

register = template.Library()


@register.filter
def basis_status(value: str) -> str:
    """A basis status code as the user's words ("received" → "Mottatt")."""
    try:
        return str(BasisStatus(value).label)
    except ValueError:
        return value


@register.filter
def decimal_comma(value: str) -> str:
    """A quantity stored as "2.50" shown as people here write it: "2,50"."""
    return str(value).replace(".", ",")
