"""Intake validation of one line: the full check, and the fast path for the ordinary line that
the full check is held to (tests/intake/test_validation.py compares them)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from ..amounts import amount_for
from ..models import (
    BasisKind,
)
from .catalogue import Catalogue
from .checker import Checker, Memo
from .normalized import LineIn
from .rules import (
    AMOUNT_LIMIT,
    BAD_CHARS,
    LINE_FIELDS,
    MAX_DESCRIPTION,
    MAX_DIMENSION_VALUE,
    MAX_SERVICE_CODE,
    MAX_TEXT,
    MAX_TEXTS,
    QUANTITY,
    UNIT_PRICE_LIMIT,
    bad_character,
    echo,
)


def validate_line(
    check: Checker,
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
        match = QUANTITY.fullmatch(quantity)
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
                elif (bad := bad_character(value)) is not None:
                    check.add(f"{path}texts[{t}]", *bad)
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
                elif (bad := bad_character(value)) is not None:
                    check.add(name, *bad)
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


def fast_line(
    obj: Any,
    i: int,
    kind: str,
    usable: frozenset[str],
    catalogue: Catalogue,
    memo: Memo,
) -> LineIn | None:
    """A valid line in one pass; None (never an error) sends the line to `validate_line`, which
    finds and words every problem. It only ever accepts what `validate_line` accepts (a property
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
        match = QUANTITY.fullmatch(quantity)
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
        or BAD_CHARS.search(description)
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
        if BAD_CHARS.search("".join(texts)):
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
        if BAD_CHARS.search("".join(dimensions.values())):
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
