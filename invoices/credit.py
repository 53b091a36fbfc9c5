"""Credit notes made in the product: a whole invoice, some of its lines, or part of a line's
quantity, always with the clerk's reason.

A credit note is a new *received* credit basis with the same period, unit and parties as the
invoice it corrects, the credited lines with negative quantities at the same unit prices, and the
reference `<original>-K1` (`-K2` … for the next). What an invoice still has to credit is its own
lines less every credit note that points at it, those from the care system included; the original
is locked while that is worked out and the note written, so two clerks at once cannot credit more
than a line holds.

Rounding: every line of a credit note obeys the one amount rule (`amounts.py`), or the formats and
Visma would refuse it. Parts of a line therefore never add up to more øre than the line: a part is
taken only when what remains of the line can still be credited by the same rule, so the last part
takes exactly what remains. Only a part that splits an øre in two halves is refused (0,50 × 3,33
kr = 1,665 kr: both halves would round up, to 3,34 kr in all); the clerk is offered the nearest
quantities that work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.actors import Actor
from core.text import describe, forbidden_character

from . import anomalies, summaries
from .amounts import amount_for
from .audit import audit
from .errors import BasisActionError
from .models import BasisKind, BasisStatus, InvoiceBasis, InvoiceLine
from .templatetags.money import kr
from .validation import BasisIn, LineIn, PartyIn, content_hash

CREDITABLE = frozenset({BasisStatus.EXPORTED, BasisStatus.SENT})
MAX_REASON = 500
# What a full credit says when nobody wrote a reason (the management command, the tests).
FULL_CREDIT_REASON = gettext_lazy("Hele fakturaen krediteres")
# How far from the asked quantity the nearest workable parts are looked for, in hundredths.
NEAREST_SEARCH = 100


class CreditRefused(BasisActionError):
    """What is wrong with a credit request: per original line number (`None` for the note as a
    whole), in Bokmål."""

    def __init__(self, problems: Mapping[int | None, list[str]]) -> None:
        super().__init__(" ".join(m for messages in problems.values() for m in messages))
        self.problems = dict(problems)


@dataclass
class LineBalance:
    """One line of the invoice: what it holds, and how much of it credit notes have taken."""

    line: InvoiceLine
    credited_hundredths: int = 0
    credited_ore: int = 0

    @property
    def hundredths(self) -> int:
        return _hundredths(self.line.quantity)

    @property
    def remaining_hundredths(self) -> int:
        return max(0, self.hundredths - self.credited_hundredths)

    @property
    def remaining_ore(self) -> int:
        return self.line.amount_ore - self.credited_ore

    @property
    def remaining_quantity(self) -> Decimal:
        return _quantity(self.remaining_hundredths)

    @property
    def credited_quantity(self) -> Decimal:
        return _quantity(self.credited_hundredths)


@dataclass
class Balance:
    """An invoice, its credit notes (oldest first), and what is left to credit per line."""

    basis: InvoiceBasis
    lines: list[LineBalance]
    notes: list[InvoiceBasis] = field(default_factory=list)

    @property
    def credited_ore(self) -> int:
        return -sum(note.total_ore for note in self.notes)

    @property
    def remaining_ore(self) -> int:
        return self.basis.total_ore - self.credited_ore

    @property
    def left_ore(self) -> int:
        """What is left to credit, for people: 0 once no line has anything left."""
        return max(self.remaining_ore, 0) if self.open_lines else 0

    @property
    def open_lines(self) -> list[LineBalance]:
        return [b for b in self.lines if b.remaining_hundredths > 0]

    @property
    def creditable(self) -> bool:
        """Something is left to credit: a line with quantity left, and money left (or an
        invoice of 0 kr, which is credited as it is)."""
        return (
            self.basis.kind == BasisKind.INVOICE
            and self.basis.status in CREDITABLE
            and bool(self.open_lines)
            and (self.remaining_ore > 0 or self.basis.total_ore == 0)
        )


def balance_for(basis: InvoiceBasis) -> Balance:
    """What `basis` has credited and has left: three queries, whatever the number of notes."""
    lines = list(basis.lines.select_related("service").order_by("line_no"))
    notes = list(InvoiceBasis.objects.filter(credits_id=basis.pk).order_by("id"))
    credited = InvoiceLine.objects.filter(basis__credits_id=basis.pk).order_by(
        "basis_id", "line_no"
    )
    balances = [LineBalance(line) for line in lines]
    _allocate(balances, credited)
    return Balance(basis, balances, notes)


def _allocate(balances: list[LineBalance], credited: Iterable[InvoiceLine]) -> None:
    """Count each credit line against the invoice's lines of the same service and unit price:
    first a line it copies (same description, dates, texts and coding: what a note made here
    holds), then the others in line order. Credit notes from the care system carry no line
    numbers, so this is how their lines are found too; a credit line no invoice line matches
    counts only against the invoice's total."""
    for credit in credited:
        left_h = -_hundredths(credit.quantity)
        left_ore = -credit.amount_ore
        candidates = sorted(
            (
                b
                for b in balances
                if b.line.service_id == credit.service_id
                and b.line.unit_price_ore == credit.unit_price_ore
            ),
            key=lambda b: (not _copies(credit, b.line), b.line.line_no),
        )
        for b in candidates:
            take = min(left_h, b.remaining_hundredths)
            if take <= 0:
                continue
            ore = left_ore if take == left_h else amount_for(take, credit.unit_price_ore)
            ore = min(ore, left_ore)
            b.credited_hundredths += take
            b.credited_ore += ore
            left_h -= take
            left_ore -= ore
            if left_h <= 0:
                break


def _copies(credit: InvoiceLine, line: InvoiceLine) -> bool:
    return (
        credit.description == line.description
        and credit.service_from == line.service_from
        and credit.service_to == line.service_to
        and credit.texts == line.texts
        and credit.dimensions == line.dimensions
    )


# --- making a credit note ------------------------------------------------------------------------


@transaction.atomic
def invoice_basis_credit_lines(
    basis: InvoiceBasis,
    parts: Mapping[int, Decimal] | None,
    *,
    reason: str,
    actor: Actor,
) -> InvoiceBasis:
    """A credit note for `parts` of an exported or sent invoice: original line number →
    quantity to credit (0 leaves the line out); `None` credits everything that is left.

    Raises `CreditRefused` naming each line that cannot be credited as asked, and
    `BasisActionError` when the invoice cannot be credited at all. Nothing is written then.
    """
    original = (
        InvoiceBasis.objects.select_for_update()
        .select_related("municipality", "unit", "payer", "recipient")
        .get(pk=basis.pk)
    )
    if original.kind != BasisKind.INVOICE:
        raise BasisActionError(_("Bare fakturaer kan krediteres"))
    if original.status not in CREDITABLE:
        raise BasisActionError(_("Bare eksporterte eller sendte fakturaer kan krediteres"))
    balance = balance_for(original)
    if not balance.creditable:
        raise BasisActionError(_("Det er ikke noe igjen å kreditere på denne fakturaen"))
    problems: dict[int | None, list[str]] = {}
    reason = _reason(reason, problems)
    if parts is None:
        parts = {b.line.line_no: b.remaining_quantity for b in balance.open_lines}
    chosen = _parts(balance, parts, problems)
    if not chosen and not problems:
        problems[None] = [_("Oppgi antall på minst én linje.")]
    total = sum(ore for _b, _h, ore in chosen)
    if chosen and total > balance.remaining_ore and balance.basis.total_ore > 0:
        problems.setdefault(None, []).append(
            _("Kreditnotaen blir %(sum)s kr, men bare %(left)s kr er igjen å kreditere.")
            % {"sum": kr(total), "left": kr(max(balance.remaining_ore, 0))}
        )
    if problems:
        raise CreditRefused(problems)
    return _write(original, chosen, reason, actor)


def invoice_basis_credit(
    basis: InvoiceBasis, actor: Actor, *, reason: str | None = None
) -> InvoiceBasis:
    """A credit note for everything the invoice still has to credit (all of it, the first
    time). A second click finds nothing left and is refused: the citizen is credited once."""
    return invoice_basis_credit_lines(
        basis, None, reason=reason if reason is not None else str(FULL_CREDIT_REASON), actor=actor
    )


def _reason(reason: str, problems: dict[int | None, list[str]]) -> str:
    reason = (reason or "").strip()
    bad = forbidden_character(reason, multiline=True)
    if not reason:
        problems.setdefault(None, []).append(_("Skriv hvorfor fakturaen krediteres."))
    elif bad is not None:
        problems.setdefault(None, []).append(
            _("Begrunnelsen inneholder et kontrolltegn (%(char)s), som ikke er tillatt.")
            % {"char": describe(bad)}
        )
    elif len(reason) > MAX_REASON:
        problems.setdefault(None, []).append(
            _("Begrunnelsen kan være høyst %(n)d tegn.") % {"n": MAX_REASON}
        )
    return reason


def _parts(
    balance: Balance, parts: Mapping[int, Decimal], problems: dict[int | None, list[str]]
) -> list[tuple[LineBalance, int, int]]:
    """(line, hundredths, øre) for each line credited, in line order; problems noted."""
    by_no = {b.line.line_no: b for b in balance.lines}
    chosen = []
    for no in sorted(parts):
        quantity = parts[no]
        b = by_no.get(no)
        if b is None:
            problems.setdefault(None, []).append(
                _("Fakturaen har ingen linje %(no)d.") % {"no": no}
            )
            continue
        problem = part_problem(b, quantity)
        if problem:
            problems.setdefault(no, []).append(problem)
            continue
        hundredths = _hundredths(quantity)
        if hundredths:
            chosen.append((b, hundredths, amount_for(hundredths, b.line.unit_price_ore)))
    return chosen


def part_problem(b: LineBalance, quantity: Decimal) -> str:
    """Why `quantity` of the line cannot be credited, or ""."""
    no = b.line.line_no
    if not quantity.is_finite() or quantity != quantity.quantize(Decimal("0.01")):
        return _("Linje %(no)d: antallet kan ha høyst to desimaler.") % {"no": no}
    hundredths = _hundredths(quantity)
    if hundredths < 0:
        return _("Linje %(no)d: antallet kan ikke være negativt.") % {"no": no}
    if hundredths == 0:
        return ""
    if hundredths > b.remaining_hundredths:
        return _("Linje %(no)d: bare %(left)s igjen å kreditere.") % {
            "no": no,
            "left": _shown(b.remaining_hundredths),
        }
    if _workable(b, hundredths):
        return ""
    price = b.line.unit_price_ore
    if hundredths == b.remaining_hundredths:
        message = _(
            "Linje %(no)d: resten (%(qty)s × %(price)s kr) blir %(sum)s kr, men bare %(left)s kr "
            "er igjen av linjen."
        ) % {
            "no": no,
            "qty": _shown(hundredths),
            "price": kr(price),
            "sum": kr(amount_for(hundredths, price)),
            "left": kr(b.remaining_ore),
        }
    else:
        message = _(
            "Linje %(no)d: %(qty)s × %(price)s kr deler en øre i to, og resten av linjen ville "
            "ikke gå opp i hele øre."
        ) % {"no": no, "qty": _shown(hundredths), "price": kr(price)}
    nearest = _nearest(b, hundredths)
    if nearest:
        message += " " + _("Velg for eksempel %(choices)s.") % {
            "choices": _(" eller ").join(_shown(h) for h in nearest)
        }
    return message


def _workable(b: LineBalance, hundredths: int) -> bool:
    """A part that never takes more øre than the line has left, and leaves a rest that the amount
    rule can still credit exactly: so the last part takes exactly what remains."""
    price = b.line.unit_price_ore
    amount = amount_for(hundredths, price)
    if amount > b.remaining_ore:
        return False
    rest = b.remaining_hundredths - hundredths
    return rest == 0 or amount_for(rest, price) == b.remaining_ore - amount


def _nearest(b: LineBalance, hundredths: int) -> list[int]:
    """The workable quantities closest below and above `hundredths` (at most one each)."""
    found = []
    for step in (-1, 1):
        h = hundredths + step
        for _i in range(NEAREST_SEARCH):
            if not 0 < h <= b.remaining_hundredths:
                break
            if _workable(b, h):
                found.append(h)
                break
            h += step
    return found


def _write(
    original: InvoiceBasis,
    chosen: list[tuple[LineBalance, int, int]],
    reason: str,
    actor: Actor,
) -> InvoiceBasis:
    reference = _credit_reference(original)
    credit_lines = [
        LineIn(
            line_no=no,
            service_code=b.line.service.code,
            description=b.line.description,
            quantity=-_quantity(hundredths),
            unit_price_ore=b.line.unit_price_ore,
            # The rule is symmetric around zero: −(q × p) rounds to −amount exactly.
            amount_ore=-ore,
            service_from=b.line.service_from,
            service_to=b.line.service_to,
            texts=list(b.line.texts),
            dimensions=dict(b.line.dimensions),
        )
        for no, (b, hundredths, ore) in enumerate(chosen, start=1)
    ]
    normalized = BasisIn(
        index=0,
        source_reference=reference,
        period=original.period,
        unit_code=original.unit.code,
        unit_name=original.unit.name,
        kind=BasisKind.CREDIT,
        credits=original.source_reference,
        payer=PartyIn(original.payer.national_id, original.payer.org_number, ""),
        recipient=PartyIn(original.recipient.national_id, original.recipient.org_number, ""),
        lines=credit_lines,
    )
    total = sum(line.amount_ore for line in credit_lines)
    credit = InvoiceBasis.objects.create(
        municipality=original.municipality,
        unit=original.unit,
        period=original.period,
        payer=original.payer,
        recipient=original.recipient,
        source_reference=reference,
        kind=BasisKind.CREDIT,
        credits=original,
        credit_reason=reason,
        status=BasisStatus.RECEIVED,
        total_ore=total,
        line_count=len(credit_lines),
        content_hash=content_hash(normalized),
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            basis=credit,
            line_no=line.line_no,
            service=b.line.service,
            description=line.description,
            quantity=line.quantity,
            unit_price_ore=line.unit_price_ore,
            amount_ore=line.amount_ore,
            service_from=line.service_from,
            service_to=line.service_to,
            texts=line.texts,
            dimensions=line.dimensions,
        )
        for line, (b, _h, _ore) in zip(credit_lines, chosen, strict=True)
    )
    summaries.add([credit.pk])
    anomalies.schedule_refresh(credit.municipality_id, [credit.period])
    audit(
        "invoice_basis.credit",
        actor=actor,
        municipality=original.municipality,
        obj=credit,
        bases=[original.pk],
        source_reference=reference,
        credits=original.pk,
        credits_reference=original.source_reference,
        total_ore=total,
        reason=reason,
        lines=[
            {"line_no": b.line.line_no, "quantity": str(_quantity(h)), "amount_ore": -ore}
            for b, h, ore in chosen
        ],
    )
    return credit


def _credit_reference(original: InvoiceBasis) -> str:
    taken = set(
        InvoiceBasis.objects.filter(
            municipality_id=original.municipality_id,
            source_reference__startswith=original.source_reference[:40],
        ).values_list("source_reference", flat=True)
    )
    n = 1
    while True:
        suffix = f"-K{n}"
        reference = original.source_reference[: 64 - len(suffix)] + suffix
        if reference not in taken:
            return reference
        n += 1


def _hundredths(quantity: Decimal) -> int:
    return int(quantity.scaleb(2).to_integral_value())


def _quantity(hundredths: int) -> Decimal:
    return Decimal(hundredths).scaleb(-2).quantize(Decimal("0.01"))


def _shown(hundredths: int) -> str:
    """A quantity as people write it here: 1,50."""
    return f"{_quantity(hundredths):f}".replace(".", ",").replace("-", "−")
