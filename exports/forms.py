"""Forms of the export pages: the export profile, starting an export, overriding the lock."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import RefusesControlCharacters, SlotsField
from invoices.forms import AccountingSettingsForm, dimension_choices
from invoices.models import Municipality

from .models import DIM_SLOTS, ExportFormat, ExportProfile

# The profile page, section by section. The municipality's accounting settings (route, Visma
# oppdragsgiver and KB slots, which the web service reads too) are edited here beside the file
# settings, by their own form.
PROFILE_SECTIONS: list[tuple[Any, tuple[str, ...]]] = [
    (
        _("Generelt"),
        ("transfer_route", "encoding", "line_ending", "include_zero_amount"),
    ),
    (
        _("Visma Enterprise Fakturering"),
        ("visma_layout", "quantity_decimals", "default_oppdragsgiver", "kb_slots"),
    ),
    (
        _("Agresso / UBW (LG04 og CS15)"),
        (
            "agresso_layout",
            "agresso_client",
            "voucher_type",
            "order_type",
            "pay_method",
            "responsible",
            "responsible2",
            "batch_prefix",
            "order_id_start",
            "order_id_end",
            "customer_mode",
            "dim_slots",
            "dim_required",
            "header_text_template",
            "cs15_enabled",
            "cs15_customer_group",
        ),
    ),
]


class ExportProfileForm(RefusesControlCharacters, forms.ModelForm):
    """The file channel's own settings. The page shows it together with the municipality's
    accounting settings (`invoices.forms.AccountingSettingsForm`), section by section."""

    dim_required = forms.TypedMultipleChoiceField(
        label=_("Påkrevde dimensjoner"),
        choices=[(n, "") for n in range(1, DIM_SLOTS + 1)],  # named in __init__, in words
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("En tom påkrevd dimensjon stopper eksporten."),
    )

    class Meta:
        model = ExportProfile
        help_texts = {
            "batch_prefix": _("Batch-ID (batch_id) = prefiks + ÅÅMMDD + løpenummer."),
        }
        fields = [
            name
            for _title, names in PROFILE_SECTIONS
            for name in names
            if name not in AccountingSettingsForm.Meta.fields
        ]

    def __init__(
        self,
        *args: Any,
        municipality: Municipality,
        route: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Checked against the route being saved with it, not only the stored one.
        self.instance.planned_route = route
        # UBW's name of each slot stays beside ours, for its documentation: "Dimensjon 1 (dim_1)".
        slot = str(_("Dimensjon {n} (dim_{n})"))
        self.fields["dim_slots"] = SlotsField(
            DIM_SLOTS,
            slot,
            dimension_choices(municipality),
            label=_("Dimensjoner (dim_1–dim_7)"),
        )
        required = cast(forms.TypedMultipleChoiceField, self.fields["dim_required"])
        required.choices = [(n, slot.format(n=n)) for n in range(1, DIM_SLOTS + 1)]
        for name in ("order_id_start", "order_id_end"):
            self.fields[name].widget = forms.NumberInput(attrs={"min": 1})

    def values(self) -> dict[str, Any]:
        """The cleaned settings, ready for `export_profile_update`."""
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class StartExportForm(RefusesControlCharacters, forms.Form):
    period = forms.RegexField(label=_("Periode"), regex=r"^[0-9]{4}-(0[1-9]|1[0-2])$", max_length=7)
    format = forms.ChoiceField(label=_("Format"), choices=ExportFormat.choices)
    unit = forms.CharField(label=_("Enhet"), required=False, max_length=32)
    service = forms.CharField(label=_("Tjeneste"), required=False, max_length=32)
    is_test = forms.BooleanField(label=_("Testfil (låser ingen grunnlag)"), required=False)


class OverrideExportForm(RefusesControlCharacters, forms.Form):
    """Re-export of bases that were already exported: superbruker only, with a reason."""

    references = forms.CharField(
        label=_("Grunnlag"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Referanser (f.eks. 9999-000000123), skilt med mellomrom, komma eller linjeskift."
        ),
    )
    format = forms.ChoiceField(label=_("Format"), choices=ExportFormat.choices)
    reason = forms.CharField(
        label=_("Begrunnelse"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("Påkrevd. Lagres i loggen sammen med hvem som overstyrte."),
    )

    def __init__(self, *args: Any, municipality: Municipality, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.municipality = municipality

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data.get("reason", "").strip()
        if not reason:
            raise forms.ValidationError(_("Skriv hvorfor grunnlagene skal eksporteres på nytt."))
        return reason

    def clean_references(self) -> list[int]:
        raw: str = self.cleaned_data.get("references", "")
        ids: list[int] = []
        number = self.municipality.number
        for token in re.split(r"[\s,;]+", raw.strip()):
            if not token:
                continue
            match = re.fullmatch(r"(?:([0-9]{4})-)?0*([0-9]{1,12})", token)
            if not match or (match.group(1) and match.group(1) != number):
                raise forms.ValidationError(
                    _("«%(t)s» er ikke en referanse i denne kommunen.") % {"t": token}
                )
            ids.append(int(match.group(2)))
        if not ids:
            raise forms.ValidationError(_("Oppgi minst ett grunnlag."))
        if len(ids) > 1000:
            raise forms.ValidationError(_("Høyst 1000 grunnlag om gangen."))
        return sorted(set(ids))
