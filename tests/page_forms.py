"""What a browser would send from a page's forms: a value for every named field."""

from __future__ import annotations

from html.parser import HTMLParser


def form_values(html: str) -> dict[str, str]:
    """name → the value the page's forms would send (the first form that names it wins)."""
    parser = _FormValues()
    parser.feed(html)
    return parser.values


class _FormValues(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "password"):
            if a.get("type") in ("checkbox", "radio") and not a.get("value"):
                a["value"] = "on"
            self.values.setdefault(name, a.get("value", ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self.values:
                self.values[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self._textarea not in self.values:
            self.values[self._textarea] = data.strip()
