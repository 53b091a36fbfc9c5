"""The *Krediter* form: a quantity per line of the invoice, and the reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import RefusesControlCharacters

from .credit import MAX_REASON, Balance


def line_field(line_no: int) -> str:
    return f"linje_{line_no}"


class CreditForm(RefusesControlCharacters, forms.Form):
    """One field per line with quantity left (0 up to what is left, two decimals; a comma or a
    point), the reason, and *Krediter alt som gjenstår* (`alt`), which takes every line's rest.
    The service checks everything again with the invoice locked."""

    reason = forms.CharField(
        label=_("Begrunnelse"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Lagres på kreditnotaen og i loggen."),
    )

    def __init__(self, *args: Any, balance: Balance, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.balance = balance
        for b in balance.open_lines:
            self.fields[line_field(b.line.line_no)] = forms.DecimalField(
                label=_("Krediter antall på linje %(no)d") % {"no": b.line.line_no},
                required=False,
                min_value=Decimal(0),
                max_value=b.remaining_quantity,
                max_digits=9,
                decimal_places=2,
                localize=True,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 8}),
            )

    @property
    def everything(self) -> bool:
        return self.is_bound and self.data.get("alt") == "1"

    def line_fields(self) -> list[tuple[Any, forms.BoundField | None]]:
        """Each line's balance with its field (None when nothing is left of it)."""
        return [
            (b, self[line_field(b.line.line_no)] if b.remaining_hundredths else None)
            for b in self.balance.lines
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.everything and not any(
            cleaned.get(line_field(b.line.line_no)) for b in self.balance.open_lines
        ):
            raise forms.ValidationError(_("Oppgi antall på minst én linje."))
        return cleaned

    def parts(self) -> dict[int, Decimal] | None:
        """Original line number → quantity to credit; None for everything that is left."""
        if self.everything:
            return None
        return {
            b.line.line_no: self.cleaned_data.get(line_field(b.line.line_no)) or Decimal(0)
            for b in self.balance.open_lines
        }
