"""The channels a month can leave by, as the domain's pages see them.

The domain knows no channel by name. The project configuration lists them
(`settings.BILLING_CHANNELS`, each the dotted path of a `Channel`), and the menu, the month page
and the basis page include each channel's templates in that order. A new channel is a new app
with a `channel.py` and one line in the settings; nothing in the domain changes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from .models import AccountingSettings, Municipality, TransferRoute


@dataclass(frozen=True)
class Channel:
    name: str
    # The municipality transfer routes (`TransferRoute`) this channel carries.
    routes: frozenset[str]
    # Links in the main menu.
    nav_template: str
    # The channel's box on the month page (what would go, and its button).
    period_actions_template: str
    # What the channel knows about one basis, on the basis page.
    basis_extra_template: str
    # The page where the month leaves by this channel (a confirmation of the selection, count and
    # total), and its button's words; the overview links there when the route is this channel's.
    start_url_name: str
    start_label: str | Promise
    # Dotted path of `search(municipality, term)`: the ids (a values queryset) of the bases the
    # channel knows by a search term — an invoice number, a KID, an order number. "" for none.
    search: str = ""
    # The administrator's links (the channel's settings), in the header's Administrasjon menu.
    admin_nav_template: str = ""
    # Dotted path of `basis_events(basis) -> list[invoices.timeline.TimelineEvent]`: what the
    # channel did with a basis, for its story on the basis page (a constant number of queries).
    basis_events: str = ""
    # Dotted path of an `invoices.audit_words.Vocabulary`: the channel's audit actions in words,
    # and the pages of the objects its events name.
    audit_vocabulary: str = ""


@functools.cache
def channels() -> tuple[Channel, ...]:
    return tuple(import_string(path) for path in settings.BILLING_CHANNELS)


def for_route(route: str) -> Channel | None:
    """The channel that carries a transfer route."""
    return next((c for c in channels() if route in c.routes), None)


def primary(municipality: Municipality) -> Channel | None:
    """The channel of the municipality's own transfer route (its accounting settings)."""
    settings_ = AccountingSettings.objects.filter(municipality=municipality).first()
    return for_route(settings_.transfer_route if settings_ else TransferRoute.VISMA_FILE)


@receiver(setting_changed)
def _forget(setting: str, **kwargs: object) -> None:
    if setting == "BILLING_CHANNELS":
        channels.cache_clear()
