"""The one validator for invoice bases: the API, the import command and the pages show its errors.

Two entry points:

- `validate_bases(...)` checks intake documents (spec/intake.md, "Precise rules") and turns each
  valid basis into a normalized `BasisIn` with the SHA-256 that tells a retry from a correction.
- `validate_stored(...)` re-checks bases already stored, before approval: the catalogue, dimensions
  and id rules may have changed since the basis arrived.

Every problem is an `Issue` with a stable machine `code` and a Bokmål `message`. Error codes:
`required`, `invalid_type`, `invalid_format`, `invalid_value`, `invalid_characters`, `too_long`,
`text_too_long`, `too_many_texts`, `no_lines`, `too_many_lines`, `unknown_field`,
`invalid_checksum`, `invalid_date`, `synthetic_id`, `ambiguous_identifier`, `out_of_range`,
`invalid_sign`, `amount_mismatch`, `invalid_date_range`, `unknown_service`,
`service_not_billable`, `service_not_valid`, `unknown_dimension`, `duplicate_reference`,
`credits_not_allowed`, `unknown_credit_reference`, `credit_target_not_invoice`,
`credit_payer_mismatch`; stored bases add `total_mismatch`, and the warnings `missing_address`
and `zero_amount`.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from .amounts import amount_for
from .identifiers import InvalidIdentifier, validate_national_id, validate_org_number
from .models import BasisKind, DimensionDefinition, InvoiceBasis, InvoiceLine, Municipality, Service

Severity = Literal["error", "warning"]

MAX_REFERENCE = 64
MAX_NAME = 100
MAX_ADDRESS = 100
MAX_PLACE = 100
MAX_DESCRIPTION = 200
MAX_TEXT = 50
MAX_TEXTS = 99
MAX_LINES = 99
MAX_UNIT_CODE = 32
MAX_SERVICE_CODE = 32
MAX_DIMENSION_VALUE = 25
UNIT_PRICE_LIMIT = 10**8
AMOUNT_LIMIT = 10**10

_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_QUANTITY = re.compile(r"(-?)([0-9]{1,7})(?:\.([0-9]{1,2}))?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_POSTCODE = re.compile(r"[0-9]{4}")
# Control characters and line breaks would break the fixed-width export files, and lone
# surrogates cannot be stored as UTF-8 at all.
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

_KINDS = frozenset(BasisKind.values)
BASIS_FIELDS = frozenset(
    {"source_reference", "period", "unit", "kind", "credits", "payer", "recipient", "lines"}
)
UNIT_FIELDS = frozenset({"code", "name"})
PARTY_FIELDS = frozenset(
    {"national_id", "org_number", "name", "address1", "address2", "postcode", "place"}
)
ADDRESS_FIELDS = ("address1", "address2", "postcode", "place")
LINE_FIELDS = frozenset(
    {
        "service_code",
        "description",
        "quantity",
        "unit_price_ore",
        "amount_ore",
        "service_from",
        "service_to",
        "texts",
        "dimensions",
    }
)


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding. `index` counts from 0 within the request's `invoice_bases`; `field` is
    relative to the basis (`lines[0].amount_ore`). Stored bases carry `basis_id` instead."""

    code: str
    message: str
    field: str = ""
    index: int | None = None
    source_reference: str | None = None
    severity: Severity = "error"
    basis_id: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        """The API's error shape (spec/intake.md)."""
        return {
            "index": self.index,
            "source_reference": self.source_reference,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }

    def as_text(self) -> str:
        """One line for command output and logs."""
        where = []
        if self.index is not None:
            where.append(f"grunnlag {self.index}")
        if self.source_reference:
            where.append(f"({self.source_reference})")
        if self.field:
            where.append(self.field)
        prefix = " ".join(where)
        return (
            f"{prefix}: [{self.code}] {self.message}" if prefix else f"[{self.code}] {self.message}"
        )


# --- the normalized result of intake validation ------------------------------------------------


@dataclass(slots=True)
class PartyIn:
    national_id: str
    org_number: str
    name: str
    address1: str = ""
    address2: str = ""
    postcode: str = ""
    place: str = ""
    # A payer object is the full truth about the party; a recipient object that names no address
    # only keeps the name current and leaves a known address alone.
    has_address: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.national_id, self.org_number)


@dataclass(slots=True)
class LineIn:
    line_no: int
    service_code: str
    description: str
    quantity: Decimal
    unit_price_ore: int
    amount_ore: int
    service_from: datetime.date | None
    service_to: datetime.date | None
    texts: list[str]
    dimensions: dict[str, str]


@dataclass(slots=True)
class BasisIn:
    index: int
    source_reference: str
    period: str
    unit_code: str
    unit_name: str
    kind: str
    credits: str  # source reference of the credited invoice, "" for invoices
    payer: PartyIn
    recipient: PartyIn
    lines: list[LineIn]
    content_hash: str = ""

    @property
    def total_ore(self) -> int:
        return sum(line.amount_ore for line in self.lines)


# --- what the municipality has defined ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    id: int
    billable: bool
    valid_from: datetime.date | None
    valid_to: datetime.date | None

    def valid_in(self, first: datetime.date, last: datetime.date) -> bool:
        if self.valid_from is not None and self.valid_from > last:
            return False
        return not (self.valid_to is not None and self.valid_to < first)


@dataclass(frozen=True)
class Catalogue:
    """The municipality's services and dimension keys, loaded once per request (two queries)."""

    services: Mapping[str, ServiceInfo]
    dimension_keys: frozenset[str]
    allow_synthetic: bool

    @classmethod
    def load(cls, municipality: Municipality) -> Catalogue:
        services = {
            code: ServiceInfo(pk, billable, valid_from, valid_to)
            for pk, code, billable, valid_from, valid_to in Service.objects.filter(
                municipality=municipality
            ).values_list("pk", "code", "billable", "valid_from", "valid_to")
        }
        keys = frozenset(
            DimensionDefinition.objects.filter(municipality=municipality).values_list(
                "key", flat=True
            )
        )
        return cls(services, keys, bool(settings.ALLOW_SYNTHETIC_IDS))


def period_bounds(period: str) -> tuple[datetime.date, datetime.date]:
    year, month = int(period[:4]), int(period[5:7])
    return (
        datetime.date(year, month, 1),
        datetime.date(year, month, calendar.monthrange(year, month)[1]),
    )


def echo(value: object, limit: int = MAX_REFERENCE) -> str | None:
    """A caller's value, made safe to repeat in an error (JSON, terminal, HTML)."""
    if not isinstance(value, str):
        return None
    text = _BAD_CHARS.sub("\ufffd", value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- intake validation -------------------------------------------------------------------------


class _Memo:
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


class _Checker:
    """Collects the issues of one basis while normalizing it."""

    __slots__ = ("index", "issues", "memo", "ref")

    def __init__(self, index: int, ref: str | None, issues: list[Issue], memo: _Memo) -> None:
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
        if type(value) is str and 0 < len(value) <= limit and not _BAD_CHARS.search(value):
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
        if _BAD_CHARS.search(value):
            self.add(
                name,
                "invalid_characters",
                _("Teksten inneholder linjeskift eller andre kontrolltegn"),
            )
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
        if not isinstance(value, str) or not _DATE.fullmatch(value):
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
        if postcode and not _POSTCODE.fullmatch(postcode):
            self.add(f"{path}postcode", "invalid_format", _("Postnummer må være 4 siffer"))
        place = self.text(obj, "place", path, limit=MAX_PLACE)
        if len(self.issues) > errors_before:
            return None
        has_address = is_payer or any(key in obj for key in ADDRESS_FIELDS)
        return PartyIn(nid, org, name, address1, address2, postcode, place, has_address)


def _validate_line(
    check: _Checker,
    obj: Any,
    i: int,
    kind: str,
    catalogue: Catalogue,
    period_range: tuple[datetime.date, datetime.date] | None,
) -> LineIn | None:
    path = f"lines[{i}]."
    if not isinstance(obj, dict):
        check.add(f"lines[{i}]", "invalid_type", _("Linjen må være et objekt"))
        return None
    errors_before = len(check.issues)
    if not LINE_FIELDS.issuperset(obj.keys()):
        check.unknown_fields(obj, LINE_FIELDS, path)

    service_code = check.text(obj, "service_code", path, limit=MAX_SERVICE_CODE, required=True)
    if service_code:
        service = catalogue.services.get(service_code)
        if service is None:
            check.add(
                f"{path}service_code",
                "unknown_service",
                _("Tjenesten «%(code)s» finnes ikke i kommunens tjenestekatalog")
                % {"code": service_code},
            )
        elif not service.billable:
            check.add(
                f"{path}service_code",
                "service_not_billable",
                _("Tjenesten «%(code)s» er ikke fakturerbar") % {"code": service_code},
            )
        elif period_range is not None and not service.valid_in(*period_range):
            check.add(
                f"{path}service_code",
                "service_not_valid",
                _("Tjenesten «%(code)s» er ikke gyldig i perioden") % {"code": service_code},
            )
    description = check.text(obj, "description", path, limit=MAX_DESCRIPTION)

    hundredths: int | None = None
    quantity = obj.get("quantity")
    if quantity is None:
        check.add(f"{path}quantity", "required", _("Antall må fylles ut"))
    elif not isinstance(quantity, str):
        check.add(
            f"{path}quantity",
            "invalid_type",
            _('Antall må være en tekst med desimaltall, for eksempel "4.00"'),
        )
    else:
        match = _QUANTITY.fullmatch(quantity)
        if match is None:
            check.add(
                f"{path}quantity",
                "invalid_format",
                _("Antall må være et desimaltall med høyst 7 siffer og 2 desimaler, med punktum"),
            )
        else:
            sign, whole, fraction = match.groups()
            hundredths = int(whole) * 100 + int((fraction or "0").ljust(2, "0"))
            if sign:
                hundredths = -hundredths
    unit_price = check.integer(obj, "unit_price_ore", path, UNIT_PRICE_LIMIT)
    amount = check.integer(obj, "amount_ore", path, AMOUNT_LIMIT)

    if hundredths is not None and unit_price is not None:
        if kind == BasisKind.INVOICE and (hundredths < 0 or unit_price < 0):
            check.add(
                f"{path}quantity" if hundredths < 0 else f"{path}unit_price_ore",
                "invalid_sign",
                _("En faktura kan ikke ha negative linjer; rettelser sendes som kreditnota"),
            )
        elif kind == BasisKind.CREDIT and (hundredths > 0 or unit_price < 0):
            check.add(
                f"{path}quantity" if hundredths > 0 else f"{path}unit_price_ore",
                "invalid_sign",
                _("En kreditnota skrives med negativt antall og positiv enhetspris"),
            )
        elif amount is not None:
            expected = amount_for(hundredths, unit_price)
            if amount != expected:
                check.add(
                    f"{path}amount_ore",
                    "amount_mismatch",
                    _(
                        "Beløpet skal være %(expected)d øre (antall × enhetspris, avrundet til "
                        "hele øre), ikke %(amount)d"
                    )
                    % {"expected": expected, "amount": amount},
                )

    service_from = check.date(obj, "service_from", path)
    service_to = check.date(obj, "service_to", path)
    if service_from and service_to and service_from > service_to:
        check.add(
            f"{path}service_to",
            "invalid_date_range",
            _("Til-dato kan ikke være før fra-dato"),
        )

    texts: list[str] = []
    raw_texts = obj.get("texts")
    if raw_texts is not None:
        if not isinstance(raw_texts, list):
            check.add(f"{path}texts", "invalid_type", _("Tekstlinjer må være en liste"))
        elif len(raw_texts) > MAX_TEXTS:
            check.add(
                f"{path}texts",
                "too_many_texts",
                _("Høyst %(limit)d tekstlinjer per linje, ikke %(count)d")
                % {"limit": MAX_TEXTS, "count": len(raw_texts)},
            )
        else:
            for t, value in enumerate(raw_texts):
                if not isinstance(value, str):
                    check.add(
                        f"{path}texts[{t}]", "invalid_type", _("Tekstlinjen må være en tekst")
                    )
                elif len(value) > MAX_TEXT:
                    check.add(
                        f"{path}texts[{t}]",
                        "text_too_long",
                        _(
                            "Tekstlinjen er %(length)d tegn; høyst %(limit)d er tillatt "
                            "(tekster kuttes ikke)"
                        )
                        % {"length": len(value), "limit": MAX_TEXT},
                    )
                elif _BAD_CHARS.search(value):
                    check.add(
                        f"{path}texts[{t}]",
                        "invalid_characters",
                        _("Teksten inneholder linjeskift eller andre kontrolltegn"),
                    )
                else:
                    texts.append(value)

    dimensions: dict[str, str] = {}
    raw_dims = obj.get("dimensions")
    if raw_dims is not None:
        if not isinstance(raw_dims, dict):
            check.add(f"{path}dimensions", "invalid_type", _("Kontering må være et objekt"))
        else:
            for key, value in raw_dims.items():
                name = f"{path}dimensions.{echo(key, 40)}"
                if key not in catalogue.dimension_keys:
                    check.add(
                        name,
                        "unknown_dimension",
                        _("Dimensjonen «%(key)s» er ikke definert for kommunen")
                        % {"key": echo(key, 40)},
                    )
                elif not isinstance(value, str):
                    check.add(name, "invalid_type", _("Dimensjonsverdien må være en tekst"))
                elif not value or len(value) > MAX_DIMENSION_VALUE:
                    check.add(
                        name,
                        "invalid_value",
                        _("Dimensjonsverdien må være 1–%(limit)d tegn")
                        % {"limit": MAX_DIMENSION_VALUE},
                    )
                elif _BAD_CHARS.search(value):
                    check.add(
                        name,
                        "invalid_characters",
                        _("Teksten inneholder linjeskift eller andre kontrolltegn"),
                    )
                else:
                    dimensions[key] = value

    if len(check.issues) > errors_before or hundredths is None or unit_price is None:
        return None
    assert amount is not None
    return LineIn(
        line_no=i + 1,
        service_code=service_code,
        description=description,
        quantity=Decimal(hundredths).scaleb(-2),
        unit_price_ore=unit_price,
        amount_ore=amount,
        service_from=service_from,
        service_to=service_to,
        texts=texts,
        dimensions=dimensions,
    )


def _fast_line(
    obj: Any,
    i: int,
    kind: str,
    usable: frozenset[str],
    catalogue: Catalogue,
    memo: _Memo,
) -> LineIn | None:
    """A valid line in one pass; None (never an error) sends the line to `_validate_line`, which
    finds and words every problem. It only ever accepts what `_validate_line` accepts (a property
    test holds the two together): it exists because most lines are valid and a month is 100 000
    of them."""
    if type(obj) is not dict or not LINE_FIELDS.issuperset(obj):
        return None
    get = obj.get
    code = get("service_code")
    quantity = get("quantity")
    price = get("unit_price_ore")
    amount = get("amount_ore")
    if (
        type(code) is not str
        or code not in usable
        or type(quantity) is not str
        or type(price) is not int
        or type(amount) is not int
        or not 0 <= price < UNIT_PRICE_LIMIT
        or not -AMOUNT_LIMIT < amount < AMOUNT_LIMIT
    ):
        return None
    hundredths = memo.quantities.get(quantity)
    if hundredths is None:
        match = _QUANTITY.fullmatch(quantity)
        if match is None:
            return None
        sign, whole, fraction = match.groups()
        hundredths = int(whole) * 100 + int((fraction or "0").ljust(2, "0"))
        if sign:
            hundredths = -hundredths
        memo.quantities[quantity] = hundredths
    if kind == BasisKind.INVOICE:
        if hundredths < 0:
            return None
    elif kind != BasisKind.CREDIT or hundredths > 0:
        return None
    if amount != amount_for(hundredths, price):
        return None

    description = get("description")
    if description is None:
        description = ""
    elif (
        type(description) is not str
        or len(description) > MAX_DESCRIPTION
        or _BAD_CHARS.search(description)
    ):
        return None
    dates = memo.dates
    raw_from = get("service_from")
    raw_to = get("service_to")
    service_from = service_to = None
    if raw_from is not None and raw_from != "":
        if type(raw_from) is not str:
            return None
        service_from = dates.get(raw_from)
        if service_from is None:
            return None
    if raw_to is not None and raw_to != "":
        if type(raw_to) is not str:
            return None
        service_to = dates.get(raw_to)
        if service_to is None:
            return None
    if service_from and service_to and service_from > service_to:
        return None

    texts = get("texts")
    if texts is None:
        texts = []
    elif type(texts) is not list or len(texts) > MAX_TEXTS:
        return None
    elif texts:
        for text in texts:
            if type(text) is not str or len(text) > MAX_TEXT:
                return None
        if _BAD_CHARS.search("".join(texts)):
            return None
    dimensions = get("dimensions")
    if dimensions is None:
        dimensions = {}
    elif type(dimensions) is not dict:
        return None
    elif dimensions:
        if not catalogue.dimension_keys.issuperset(dimensions):
            return None
        for value in dimensions.values():
            if type(value) is not str or not 0 < len(value) <= MAX_DIMENSION_VALUE:
                return None
        if _BAD_CHARS.search("".join(dimensions.values())):
            return None
    return LineIn(
        line_no=i + 1,
        service_code=code,
        description=description,
        quantity=Decimal(hundredths).scaleb(-2),
        unit_price_ore=price,
        amount_ore=amount,
        service_from=service_from,
        service_to=service_to,
        texts=list(texts),
        dimensions=dict(dimensions),
    )


def _validate_basis(
    obj: Any, index: int, catalogue: Catalogue, issues: list[Issue], memo: _Memo
) -> BasisIn | None:
    if not isinstance(obj, dict):
        issues.append(
            Issue("invalid_type", _("Fakturagrunnlaget må være et objekt"), "", index, None)
        )
        return None
    raw_ref = obj.get("source_reference")
    check = _Checker(index, echo(raw_ref), issues, memo)
    errors_before = len(issues)
    if not BASIS_FIELDS.issuperset(obj.keys()):
        check.unknown_fields(obj, BASIS_FIELDS, "")

    ref = check.text(obj, "source_reference", "", limit=MAX_REFERENCE, required=True)

    period = obj.get("period")
    period_range = None
    if period is None or period == "":
        check.add("period", "required", _("Periode må fylles ut"))
    elif not isinstance(period, str) or not _PERIOD.fullmatch(period):
        check.add("period", "invalid_format", _("Periode må skrives ÅÅÅÅ-MM"))
    else:
        period_range = memo.periods.get(period)
        if period_range is None:
            period_range = memo.periods[period] = period_bounds(period)

    unit_code = unit_name = ""
    unit = obj.get("unit")
    if unit is None:
        check.add("unit.code", "required", _("Enhet må fylles ut"))
    elif not isinstance(unit, dict):
        check.add("unit", "invalid_type", _("Enhet må være et objekt med kode og navn"))
    else:
        if not UNIT_FIELDS.issuperset(unit):
            check.unknown_fields(unit, UNIT_FIELDS, "unit.")
        unit_code = check.text(unit, "code", "unit.", limit=MAX_UNIT_CODE, required=True)
        unit_name = check.text(unit, "name", "unit.", limit=MAX_NAME) or unit_code

    kind = obj.get("kind")
    if kind is None or kind == "":
        check.add("kind", "required", _("Type må fylles ut (invoice eller credit)"))
        kind = ""
    elif not isinstance(kind, str) or kind not in _KINDS:
        check.add("kind", "invalid_value", _("Type må være «invoice» eller «credit»"))
        kind = ""

    credits = obj.get("credits")
    credits_ref = ""
    if kind == BasisKind.INVOICE and credits not in (None, ""):
        check.add("credits", "credits_not_allowed", _("Bare en kreditnota kan peke på en faktura"))
    elif kind == BasisKind.CREDIT:
        credits_ref = check.text(obj, "credits", "", limit=MAX_REFERENCE, required=True)

    payer = None
    if obj.get("payer") is None:
        check.add("payer", "required", _("Betaler må fylles ut"))
    else:
        payer = check.party(obj["payer"], "payer.", is_payer=True, catalogue=catalogue)
    recipient_obj = obj.get("recipient")
    recipient = payer
    if recipient_obj is not None:
        recipient = check.party(recipient_obj, "recipient.", is_payer=False, catalogue=catalogue)

    lines: list[LineIn] = []
    raw_lines = obj.get("lines")
    if raw_lines is None or raw_lines == []:
        check.add("lines", "no_lines", _("Fakturagrunnlaget må ha minst én linje"))
    elif not isinstance(raw_lines, list):
        check.add("lines", "invalid_type", _("Linjer må være en liste"))
    elif len(raw_lines) > MAX_LINES:
        check.add(
            "lines",
            "too_many_lines",
            _("Høyst %(limit)d linjer per fakturagrunnlag, ikke %(count)d")
            % {"limit": MAX_LINES, "count": len(raw_lines)},
        )
    else:
        usable = (
            memo.usable_services(period, catalogue)
            if period_range and isinstance(period, str)
            else frozenset()
        )
        for i, raw_line in enumerate(raw_lines):
            line = _fast_line(raw_line, i, kind, usable, catalogue, memo)
            if line is None:
                line = _validate_line(check, raw_line, i, kind, catalogue, period_range)
            if line is not None:
                lines.append(line)

    if len(issues) > errors_before or payer is None or recipient is None:
        return None
    assert isinstance(period, str)
    basis = BasisIn(
        index=index,
        source_reference=ref,
        period=period,
        unit_code=unit_code,
        unit_name=unit_name,
        kind=kind,
        credits=credits_ref,
        payer=payer,
        recipient=recipient,
        lines=lines,
    )
    basis.content_hash = content_hash(basis)
    return basis


def content_hash(basis: BasisIn) -> str:
    """SHA-256 of what becomes the invoice, normalized (spec: "Same content").

    Quantities compare as decimals, a missing optional field equals an empty one. Names and
    addresses of the parties are left out on purpose: they are master data that every delivery
    keeps current, so a new address is stored without turning an approved basis into a conflict.

    The fields are joined with ASCII separator characters, which validation keeps out of every
    value, so the encoding is unambiguous without the cost of a JSON encoder per basis.
    """
    parts = [
        "v2",
        basis.source_reference,
        basis.period,
        basis.unit_code,
        basis.kind,
        basis.credits,
        basis.payer.national_id,
        basis.payer.org_number,
        basis.recipient.national_id,
        basis.recipient.org_number,
    ]
    for line in basis.lines:
        dimensions = line.dimensions
        parts.append(
            "\x1e".join(
                (
                    line.service_code,
                    line.description,
                    str(line.quantity),
                    str(line.unit_price_ore),
                    str(line.amount_ore),
                    line.service_from.isoformat() if line.service_from else "",
                    line.service_to.isoformat() if line.service_to else "",
                    "\x1d".join(line.texts),
                    "\x1d".join(f"{k}\x1c{dimensions[k]}" for k in sorted(dimensions))
                    if dimensions
                    else "",
                )
            )
        )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass
class StoredOriginal:
    id: int
    kind: str
    national_id: str
    org_number: str


def validate_bases(
    bases: list[Any],
    catalogue: Catalogue,
    *,
    stored_originals: Mapping[str, StoredOriginal] | None = None,
    index_offset: int = 0,
    earlier_references: Collection[str] = (),
) -> tuple[list[BasisIn], list[Issue]]:
    """Check a request's bases. Returns the normalized bases and every issue found.

    `stored_originals` maps the `credits` references to invoices already stored (the caller
    looks them up, see `credited_references`). `index_offset` and `earlier_references` let a file
    import number bases and find duplicates across its chunks.
    """
    issues: list[Issue] = []
    valid: list[BasisIn] = []
    first_seen: dict[str, BasisIn | None] = {}
    stored = stored_originals or {}
    memo = _Memo()
    in_request = {
        obj["source_reference"]
        for obj in bases
        if isinstance(obj, dict) and isinstance(obj.get("source_reference"), str)
    }
    for position, obj in enumerate(bases):
        index = index_offset + position
        basis = _validate_basis(obj, index, catalogue, issues, memo)
        ref = obj.get("source_reference") if isinstance(obj, dict) else None
        if isinstance(ref, str) and ref:
            if ref in first_seen or ref in earlier_references:
                issues.append(
                    Issue(
                        "duplicate_reference",
                        _("Kildereferansen er brukt av et annet grunnlag i samme innsending"),
                        "source_reference",
                        index,
                        echo(ref),
                    )
                )
                continue
            first_seen[ref] = basis
        if basis is None:
            continue
        if basis.kind == BasisKind.CREDIT and not _credit_ok(
            basis, first_seen, in_request, stored, issues
        ):
            continue
        valid.append(basis)
    return valid, issues


def _credit_ok(
    basis: BasisIn,
    earlier: Mapping[str, BasisIn | None],
    in_request: Collection[str],
    stored: Mapping[str, StoredOriginal],
    issues: list[Issue],
) -> bool:
    def fail(code: str, message: str) -> bool:
        issues.append(Issue(code, message, "credits", basis.index, basis.source_reference))
        return False

    if basis.credits in earlier:
        original = earlier[basis.credits]
        if original is None:
            return fail(
                "unknown_credit_reference",
                _("Grunnlaget som krediteres, er selv ugyldig i denne innsendingen"),
            )
        kind, payer_key = original.kind, original.payer.key
    elif basis.credits in in_request:
        return fail(
            "unknown_credit_reference",
            _("Fakturaen som krediteres, må komme før kreditnotaen i innsendingen"),
        )
    elif basis.credits in stored:
        found = stored[basis.credits]
        kind, payer_key = found.kind, (found.national_id, found.org_number)
    else:
        return fail(
            "unknown_credit_reference",
            _(
                "Fant ingen faktura med kildereferanse «%(ref)s», verken lagret eller "
                "tidligere i innsendingen"
            )
            % {"ref": echo(basis.credits)},
        )
    if kind != BasisKind.INVOICE:
        return fail("credit_target_not_invoice", _("En kreditnota kan bare peke på en faktura"))
    if payer_key != basis.payer.key:
        return fail(
            "credit_payer_mismatch",
            _("Kreditnotaen må ha samme betaler som fakturaen den krediterer"),
        )
    return True


def credited_references(bases: Iterable[Any]) -> set[str]:
    """The `credits` references a request names, so the caller can look them up in one query."""
    refs = set()
    for obj in bases:
        if isinstance(obj, dict) and obj.get("kind") == BasisKind.CREDIT:
            ref = obj.get("credits")
            if isinstance(ref, str) and ref:
                refs.add(ref)
    return refs


def load_stored_originals(
    municipality: Municipality, refs: Collection[str]
) -> dict[str, StoredOriginal]:
    if not refs:
        return {}
    rows = InvoiceBasis.objects.filter(
        municipality=municipality, source_reference__in=list(refs)
    ).values_list("source_reference", "pk", "kind", "payer__national_id", "payer__org_number")
    return {ref: StoredOriginal(pk, kind, nid, org) for ref, pk, kind, nid, org in rows}


# --- stored bases, before approval -------------------------------------------------------------


@dataclass
class BasisReport:
    """The findings for one stored basis."""

    basis_id: int
    source_reference: str
    payer_name: str
    total_ore: int = 0
    status: str = ""
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]

    @property
    def blocking(self) -> bool:
        return any(i.is_error for i in self.issues)


def validate_stored(
    municipality: Municipality,
    bases: QuerySet[InvoiceBasis],
    *,
    catalogue: Catalogue | None = None,
) -> dict[int, BasisReport]:
    """Re-check stored bases against today's catalogue and rules, in a constant number of queries.

    Blocking: the service no longer billable or not valid in the period, a dimension key no longer
    defined, a national id the installation no longer accepts, lines that disagree with the stored
    total. Warnings (they do not stop approval): no postal address for the payer (each export
    format decides whether it needs one) and a zero total.
    """
    catalogue = catalogue or Catalogue.load(municipality)
    bases = bases.filter(municipality=municipality)
    reports: dict[int, BasisReport] = {}
    periods: dict[int, str] = {}
    checked_ids: dict[str, Issue | None] = {}

    def id_issue(value: str) -> Issue | None:
        if value not in checked_ids:
            try:
                validate_national_id(value, allow_synthetic=catalogue.allow_synthetic)
                checked_ids[value] = None
            except InvalidIdentifier as exc:
                checked_ids[value] = Issue(exc.code, exc.message)
        return checked_ids[value]

    rows = bases.order_by("pk").values_list(
        "pk",
        "source_reference",
        "status",
        "period",
        "total_ore",
        "payer__name",
        "payer__national_id",
        "payer__address1",
        "payer__postcode",
        "payer__place",
        "recipient__national_id",
    )
    for (
        pk,
        ref,
        status,
        period,
        total,
        payer_name,
        payer_nid,
        address1,
        postcode,
        place,
        recipient_nid,
    ) in rows.iterator(chunk_size=5000):
        report = BasisReport(pk, ref, payer_name, total, status)
        reports[pk] = report
        periods[pk] = period

        def add(code: str, message: str, field_name: str, severity: Severity = "error") -> None:
            report.issues.append(Issue(code, message, field_name, None, ref, severity, pk))  # noqa: B023

        for field_name, nid in (
            ("payer.national_id", payer_nid),
            ("recipient.national_id", recipient_nid),
        ):
            if nid:
                problem = id_issue(nid)
                if problem is not None:
                    add(problem.code, problem.message, field_name)
        if not (address1 and postcode and place):
            add(
                "missing_address",
                _("Betaleren mangler postadresse (adresse, postnummer og poststed)"),
                "payer.address1",
                "warning",
            )
        if total == 0:
            add("zero_amount", _("Fakturagrunnlaget har sum 0 kr"), "", "warning")

    if not reports:
        return reports
    lines = InvoiceLine.objects.filter(basis__in=bases.values("pk"))

    def line_issue(basis_id: int, line_no: int, code: str, message: str, suffix: str) -> None:
        report = reports[basis_id]
        report.issues.append(
            Issue(
                code,
                message,
                f"lines[{line_no - 1}].{suffix}",
                None,
                report.source_reference,
                "error",
                basis_id,
            )
        )

    # Only the lines that can be wrong are read: those of services that fail in their basis's
    # period (usually none), and those that override dimensions.
    for period in set(periods.values()):
        first_day, last_day = period_bounds(period)
        failing = {
            info.id: (code, info)
            for code, info in catalogue.services.items()
            if not info.billable or not info.valid_in(first_day, last_day)
        }
        if not failing:
            continue
        rows_in_period = lines.filter(basis__period=period, service_id__in=list(failing))
        for basis_id, line_no, service_id in rows_in_period.order_by(
            "basis_id", "line_no"
        ).values_list("basis_id", "line_no", "service_id"):
            code, info = failing[service_id]
            if not info.billable:
                message = _("Tjenesten «%(code)s» er ikke fakturerbar") % {"code": code}
                line_issue(basis_id, line_no, "service_not_billable", message, "service_code")
            else:
                message = _("Tjenesten «%(code)s» er ikke gyldig i perioden") % {"code": code}
                line_issue(basis_id, line_no, "service_not_valid", message, "service_code")

    overriding = lines.exclude(dimensions={}).order_by("basis_id", "line_no")
    for basis_id, line_no, dimensions in overriding.values_list(
        "basis_id", "line_no", "dimensions"
    ).iterator(chunk_size=10000):
        for key in dimensions or {}:
            if key not in catalogue.dimension_keys:
                message = _("Dimensjonen «%(key)s» er ikke lenger definert for kommunen") % {
                    "key": key
                }
                line_issue(basis_id, line_no, "unknown_dimension", message, f"dimensions.{key}")

    # Stored totals against their lines, summed by the database; only disagreements come back.
    disagreeing = (
        bases.order_by()
        .annotate(line_sum=Coalesce(Sum("lines__amount_ore"), 0), lines_counted=Count("lines"))
        .filter(
            ~Q(total_ore=F("line_sum"))
            | ~Q(line_count=F("lines_counted"))
            | Q(line_count__lt=1)
            | Q(line_count__gt=MAX_LINES)
        )
        .values_list("pk", flat=True)
    )
    for pk in disagreeing:
        report = reports[pk]
        report.issues.append(
            Issue(
                "total_mismatch",
                _("Linjene stemmer ikke med lagret sum og antall linjer"),
                "",
                None,
                report.source_reference,
                "error",
                pk,
            )
        )
    return reports
