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
from django.utils.module_loading import import_string


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


@functools.cache
def channels() -> tuple[Channel, ...]:
    return tuple(import_string(path) for path in settings.BILLING_CHANNELS)


@receiver(setting_changed)
def _forget(setting: str, **kwargs: object) -> None:
    if setting == "BILLING_CHANNELS":
        channels.cache_clear()
