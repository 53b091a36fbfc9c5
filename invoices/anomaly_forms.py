"""The thresholds form: Norwegian input (kroner with a decimal comma, spaces between thousands),
refused with a Bokmål message when it is anything else."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import RefusesControlCharacters

from .models import AnomalySettings

_WHOLE = re.compile(r"[0-9]{1,9}")
# 500 · 500,5 · 1 250,50 · 1250.50 (a dot is taken as a decimal point too)
_KRONER = re.compile(r"([0-9]{1,3}(?: [0-9]{3})+|[0-9]{1,12})(?:[,.]([0-9]{1,2}))?")
MAX_SHARE = 1000
MAX_AMOUNT_ORE = 100_000_000_00  # 100 million kr
MAX_COUNT = 1_000_000


def _plain(value: str) -> str:
    # Thin and non-breaking spaces are what a number copied from a Norwegian page carries.
    return re.sub(r"[\u00a0\u202f ]+", " ", value.strip())


class AnomalySettingsForm(RefusesControlCharacters, forms.Form):
    share_percent = forms.CharField(
        label=_("Andel (prosent)"),
        help_text=_("Et varsel krever at avviket fra medianen er større enn denne andelen …"),
        max_length=20,
        error_messages={"required": _("Andelen må fylles ut, for eksempel 50.")},
    )
    amount_kr = forms.CharField(
        label=_("Beløp (kr)"),
        help_text=_("… og samtidig større enn dette beløpet. Standard: 50 prosent og 500 kr."),
        max_length=30,
        error_messages={"required": _("Beløpet må fylles ut, for eksempel 500.")},
    )
    count = forms.CharField(
        label=_("Antall grunnlag"),
        help_text=_(
            "For tjenester og enheter sammenlignes også antall grunnlag: avviket må være større "
            "enn andelen og dette antallet. Standard: 10."
        ),
        max_length=20,
        error_messages={"required": _("Antallet må fylles ut, for eksempel 10.")},
    )

    @staticmethod
    def initial_from(current: AnomalySettings) -> dict[str, Any]:
        kroner, ore = divmod(current.amount_ore, 100)
        return {
            "share_percent": str(current.share_percent),
            "amount_kr": f"{kroner},{ore:02d}" if ore else str(kroner),
            "count": str(current.count),
        }

    def clean_share_percent(self) -> int:
        value = _plain(self.cleaned_data["share_percent"]).rstrip("%").strip()
        if not _WHOLE.fullmatch(value) or not 1 <= int(value) <= MAX_SHARE:
            raise forms.ValidationError(
                _("Andelen må være et helt tall fra 1 til %(max)d (prosent), for eksempel 50."),
                params={"max": MAX_SHARE},
            )
        return int(value)

    def clean_amount_kr(self) -> int:
        value = _plain(self.cleaned_data["amount_kr"])
        value = re.sub(r"^kr\.? *| *kr$", "", value, flags=re.IGNORECASE)
        match = _KRONER.fullmatch(value)
        if not match:
            raise forms.ValidationError(
                _("Skriv beløpet i kroner med høyst to desimaler, for eksempel 500 eller 1 250,50.")
            )
        kroner = Decimal(match.group(1).replace(" ", ""))
        ore = int(kroner * 100 + int((match.group(2) or "0").ljust(2, "0")))
        if ore > MAX_AMOUNT_ORE:
            raise forms.ValidationError(
                _("Beløpet kan være høyst %(max)s kr."), params={"max": "100 000 000"}
            )
        return ore

    def clean_count(self) -> int:
        value = _plain(self.cleaned_data["count"]).replace(" ", "")
        if not _WHOLE.fullmatch(value) or int(value) > MAX_COUNT:
            raise forms.ValidationError(
                _("Antallet må være et helt tall fra 0 til %(max)s."), params={"max": "1 000 000"}
            )
        return int(value)

    def values(self) -> dict[str, int]:
        """The cleaned thresholds, ready for `anomaly_settings_update`."""
        return {
            "share_percent": self.cleaned_data["share_percent"],
            "amount_ore": self.cleaned_data["amount_kr"],
            "count": self.cleaned_data["count"],
        }
