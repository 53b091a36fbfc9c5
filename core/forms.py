"""Form fields more than one app's settings page uses."""

from __future__ import annotations

from typing import Any

from django import forms


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
