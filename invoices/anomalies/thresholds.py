"""The municipality's thresholds for the warnings, as computing reads them (a change of them is
`configure.py`)."""

from __future__ import annotations

from ..models import AnomalySettings, Municipality
from .detect import Thresholds

FIELDS = ("share_percent", "amount_ore", "count")


class AnomalyError(Exception):
    """The action is not allowed or its input is wrong; `message` is Bokmål for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def anomaly_settings_get(municipality: Municipality) -> AnomalySettings:
    """The stored settings, or the defaults (unsaved: reading never writes)."""
    found = AnomalySettings.objects.filter(municipality=municipality).first()
    return found or AnomalySettings(municipality=municipality)


def thresholds_for(municipality: Municipality) -> Thresholds:
    s = anomaly_settings_get(municipality)
    return Thresholds(share_percent=s.share_percent, amount_ore=s.amount_ore, count=s.count)
