"""Keys twice in one JSON object (`duplicate_key`), as issues that name their place.

The document was read with `core.jsonparse.loads_marked`; a key under `invoice_bases[i]` is an
issue of basis i with a field relative to it, like every other finding; anything else is an
issue of the document.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from core.jsonparse import Path, duplicate_keys, format_path

from .rules import Issue, echo


def _issue(key: str, field: Path, index: int | None, basis: Any) -> Issue:
    ref = echo(basis.get("source_reference")) if isinstance(basis, dict) else None
    name = echo(key, 40) or "?"
    return Issue(
        "duplicate_key",
        _("Feltet «%(key)s» står to ganger i samme objekt; bare én verdi kan gjelde")
        % {"key": name},
        format_path((*field, name)),
        index,
        ref,
    )


def document_duplicate_issues(document: Any) -> list[Issue]:
    """Every key twice in one object of a whole intake document."""
    issues = []
    for path, key in duplicate_keys(document):
        if len(path) >= 2 and path[0] == "invoice_bases" and isinstance(path[1], int):
            index = path[1]
            issues.append(_issue(key, path[2:], index, document["invoice_bases"][index]))
        else:
            issues.append(_issue(key, path, None, None))
    return sorted(issues, key=lambda i: (-1 if i.index is None else i.index, i.field))


def basis_duplicate_issues(basis: Any, index: int) -> list[Issue]:
    """Every key twice in one object of one basis (the file import reads them one by one)."""
    issues = [_issue(key, path, index, basis) for path, key in duplicate_keys(basis)]
    return sorted(issues, key=lambda i: i.field)
