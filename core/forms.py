"""What the product's forms share: the text check every form has, and form fields more than one
app's settings page uses."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .text import describe, forbidden_character


class NoForbiddenCharacters:
    """Refuses control and format characters (`core.text`); in a text area, tab and line breaks
    are text and pass."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, value: Any) -> None:
        bad = forbidden_character(str(value), multiline=self.multiline)
        if bad is not None:
            raise ValidationError(
                _(
                    "Teksten inneholder et kontrolltegn (%(char)s), som ikke er tillatt. Fjern "
                    "det og prøv igjen (det kan komme med når tekst kopieres fra et annet program)."
                ),
                code="control_character",
                params={"char": describe(bad)},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoForbiddenCharacters) and other.multiline == self.multiline

    def __hash__(self) -> int:
        return hash((NoForbiddenCharacters, self.multiline))


class RefusesControlCharacters:
    """For every form of the product: each text field refuses control and format characters, so
    neither a NUL (which PostgreSQL refuses with an error) nor an invisible bidirectional override
    reaches a model. Also fields a form adds after its own `__init__`: they are fitted just before
    the form is cleaned."""

    fields: dict[str, forms.Field]

    def full_clean(self) -> None:
        for field in self.fields.values():
            if isinstance(field, forms.CharField):
                _fit(field)
        super().full_clean()  # type: ignore[misc]


def _fit(field: forms.CharField) -> None:
    multiline = isinstance(field.widget, forms.Textarea)
    wanted = NoForbiddenCharacters(multiline=multiline)
    if wanted in field.validators:
        return
    # Ours names the character; Django's own NUL check would say the same thing again.
    field.validators = [
        v for v in field.validators if not isinstance(v, validators.ProhibitNullCharactersValidator)
    ] + [wanted]


class SlotsWidget(forms.MultiWidget):
    # Rendered by the form renderer, which reads app template folders (core/templates/).
    template_name = "core/widgets/slots.html"

    def __init__(self, size: int, prefix: str, choices: list[tuple[str, str]]) -> None:
        self.size = size
        self.prefix = prefix
        super().__init__([forms.Select(choices=choices) for _ in range(size)])

    def decompress(self, value: Any) -> list[str]:
        values = list(value) if isinstance(value, list | tuple) else []
        return (values + [""] * self.size)[: self.size]

    def get_context(self, name: str, value: Any, attrs: Any) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        for i, sub in enumerate(context["widget"]["subwidgets"], start=1):
            sub["slot_label"] = self.prefix.format(n=i)
        return context


class SlotsField(forms.MultiValueField):
    """A fixed number of slots, each holding one of the municipality's dimension keys or ""."""

    def __init__(self, size: int, prefix: str, choices: list[tuple[str, str]], **kw: Any) -> None:
        fields = [forms.ChoiceField(choices=choices, required=False) for _ in range(size)]
        super().__init__(
            fields=fields,
            widget=SlotsWidget(size, prefix, choices),
            require_all_fields=False,
            required=False,
            **kw,
        )
        self.size = size

    def compress(self, data_list: list[str]) -> list[str]:
        values = [v or "" for v in (data_list or [])]
        return (values + [""] * self.size)[: self.size]
