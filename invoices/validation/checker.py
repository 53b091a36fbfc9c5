"""The checks every field of an intake document goes through, with memory of values already seen
(a month repeats the same services, dates and ids on thousands of lines)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from ..identifiers import InvalidIdentifier, validate_national_id, validate_org_number
from .catalogue import Catalogue
from .normalized import PartyIn
from .rules import (
    ADDRESS_FIELDS,
    BAD_CHARS,
    DATE,
    MAX_ADDRESS,
    MAX_NAME,
    MAX_PLACE,
    PARTY_FIELDS,
    POSTCODE,
    Issue,
    bad_character,
    echo,
    period_bounds,
)


class Memo:
    """Values that repeat across a request (dates, quantities, persons), checked once."""

    __slots__ = ("dates", "ids", "periods", "quantities", "services")

    def __init__(self) -> None:
        self.dates: dict[str, datetime.date | None] = {}
        self.periods: dict[str, tuple[datetime.date, datetime.date]] = {}
        self.ids: dict[str, InvalidIdentifier | None] = {}
        self.quantities: dict[str, int] = {}
        self.services: dict[str, frozenset[str]] = {}

    def usable_services(self, period: str, catalogue: Catalogue) -> frozenset[str]:
        """Codes of the services that are billable and valid in `period`."""
        usable = self.services.get(period)
        if usable is None:
            first, last = period_bounds(period)
            usable = frozenset(
                code
                for code, info in catalogue.services.items()
                if info.billable and info.valid_in(first, last)
            )
            self.services[period] = usable
        return usable


class Checker:
    """Collects the issues of one basis while normalizing it."""

    __slots__ = ("index", "issues", "memo", "ref")

    def __init__(self, index: int, ref: str | None, issues: list[Issue], memo: Memo) -> None:
        self.index = index
        self.ref = ref
        self.issues = issues
        self.memo = memo

    def add(self, field_name: str, code: str, message: str) -> None:
        self.issues.append(Issue(code, message, field_name, self.index, self.ref))

    def unknown_fields(self, obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        extra = obj.keys() - allowed
        for key in sorted(extra, key=str):
            name = echo(key, 40) or "?"
            self.add(
                f"{path}{name}", "unknown_field", _("Feltet «%(name)s» er ukjent") % {"name": name}
            )

    def text(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        *,
        limit: int,
        required: bool = False,
        code_too_long: str = "too_long",
    ) -> str:
        value = obj.get(key)
        if type(value) is str and 0 < len(value) <= limit and not BAD_CHARS.search(value):
            return value
        name = f"{path}{key}"
        if value is None or value == "":
            if required:
                self.add(name, "required", _("Feltet må fylles ut"))
            return ""
        if not isinstance(value, str):
            self.add(name, "invalid_type", _("Feltet må være en tekst"))
            return ""
        if len(value) > limit:
            self.add(
                name,
                code_too_long,
                _("Teksten er %(length)d tegn; høyst %(limit)d er tillatt")
                % {"length": len(value), "limit": limit},
            )
            return ""
        bad = bad_character(value)
        if bad is not None:
            self.add(name, *bad)
            return ""
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str, limit: int) -> int | None:
        value = obj.get(key)
        if type(value) is int and -limit < value < limit:
            return value
        name = f"{path}{key}"
        if value is None:
            self.add(name, "required", _("Feltet må fylles ut"))
            return None
        # bool is an int subclass, and 215.0 or "215" are not the integer øre the format promises.
        if type(value) is not int:
            self.add(
                name, "invalid_type", _("Beløp må være et heltall i øre (JSON-tall uten desimaler)")
            )
            return None
        if not -limit < value < limit:
            self.add(
                name,
                "out_of_range",
                _("Beløpet må være mindre enn %(limit)s øre i absoluttverdi") % {"limit": limit},
            )
            return None
        return value

    def date(self, obj: Mapping[str, Any], key: str, path: str) -> datetime.date | None:
        value = obj.get(key)
        if value is None or value == "":
            return None
        if type(value) is str:
            known = self.memo.dates.get(value)
            if known is not None:
                return known
        name = f"{path}{key}"
        if not isinstance(value, str) or not DATE.fullmatch(value):
            self.add(name, "invalid_format", _("Datoen må skrives ÅÅÅÅ-MM-DD"))
            return None
        try:
            self.memo.dates[value] = parsed = datetime.date.fromisoformat(value)
            return parsed
        except ValueError:
            self.add(name, "invalid_date", _("Datoen finnes ikke"))
            return None

    def party(self, obj: Any, path: str, *, is_payer: bool, catalogue: Catalogue) -> PartyIn | None:
        if not isinstance(obj, dict):
            self.add(path.rstrip("."), "invalid_type", _("Feltet må være et objekt"))
            return None
        errors_before = len(self.issues)
        if not PARTY_FIELDS.issuperset(obj):
            self.unknown_fields(obj, PARTY_FIELDS, path)
        national_id = obj.get("national_id")
        org_number = obj.get("org_number")
        has_nid = national_id not in (None, "")
        has_org = org_number not in (None, "")
        nid = org = ""
        if has_nid and has_org:
            self.add(
                f"{path}national_id",
                "ambiguous_identifier",
                _("Oppgi enten fødselsnummer eller organisasjonsnummer, ikke begge"),
            )
        elif has_nid:
            if not isinstance(national_id, str):
                self.add(f"{path}national_id", "invalid_type", _("Fødselsnummer må være en tekst"))
            else:
                ids = self.memo.ids
                if national_id not in ids:
                    try:
                        validate_national_id(national_id, allow_synthetic=catalogue.allow_synthetic)
                        ids[national_id] = None
                    except InvalidIdentifier as exc:
                        ids[national_id] = exc
                problem = ids[national_id]
                if problem is None:
                    nid = national_id
                else:
                    self.add(f"{path}national_id", problem.code, problem.message)
        elif has_org:
            if not isinstance(org_number, str):
                self.add(
                    f"{path}org_number", "invalid_type", _("Organisasjonsnummer må være en tekst")
                )
            else:
                try:
                    org = validate_org_number(org_number)
                except InvalidIdentifier as exc:
                    self.add(f"{path}org_number", exc.code, exc.message)
        else:
            self.add(
                f"{path}national_id",
                "required",
                _("Fødselsnummer eller organisasjonsnummer må fylles ut"),
            )
        name = self.text(obj, "name", path, limit=MAX_NAME, required=True)
        address1 = self.text(obj, "address1", path, limit=MAX_ADDRESS)
        address2 = self.text(obj, "address2", path, limit=MAX_ADDRESS)
        postcode = self.text(obj, "postcode", path, limit=4)
        if postcode and not POSTCODE.fullmatch(postcode):
            self.add(f"{path}postcode", "invalid_format", _("Postnummer må være 4 siffer"))
        place = self.text(obj, "place", path, limit=MAX_PLACE)
        if len(self.issues) > errors_before:
            return None
        has_address = is_payer or any(key in obj for key in ADDRESS_FIELDS)
        return PartyIn(nid, org, name, address1, address2, postcode, place, has_address)
