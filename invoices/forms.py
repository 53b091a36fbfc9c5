"""Forms of the domain's own settings."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import RefusesControlCharacters, SlotsField

from .models import KB_SLOTS, AccountingSettings, DimensionDefinition, Municipality


def dimension_choices(municipality: Municipality) -> list[tuple[str, str]]:
    """The municipality's dimensions for a slot (`""` = none)."""
    return [("", "—")] + [
        (d.key, f"{d.name} ({d.key})")
        for d in DimensionDefinition.objects.filter(municipality=municipality)
    ]


class AccountingSettingsForm(RefusesControlCharacters, forms.ModelForm):
    class Meta:
        model = AccountingSettings
        fields = ["transfer_route", "default_oppdragsgiver", "kb_slots"]

    def __init__(self, *args: Any, municipality: Municipality, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kb_slots"] = SlotsField(
            KB_SLOTS, "KB{n:02d}", dimension_choices(municipality), label=_("Kontering KB01–KB10")
        )

    def clean_default_oppdragsgiver(self) -> str:
        value: str = self.cleaned_data.get("default_oppdragsgiver", "").strip()
        if value and not re.fullmatch(r"[0-9]{3}", value):
            raise forms.ValidationError(_("Oppdragsgiver er tre siffer, f.eks. 013."))
        return value

    def values(self) -> dict[str, Any]:
        """The cleaned settings, ready for `accounting_settings_update`."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class ApiTokenForm(RefusesControlCharacters, forms.Form):
    """The name of a new API key: it says in lists and the audit trail which system holds it."""

    name = forms.CharField(label=_("Navn"), max_length=100)
