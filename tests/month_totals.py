"""Reading the month totals back in tests: drift against the rows, and the totals per status."""

from __future__ import annotations

from invoices import summaries
from invoices.models import InvoiceBasis, Municipality, UnitMonthTotal
from tests.intake import helpers


def no_drift(m: Municipality) -> None:
    """Every month of `m`: the kept totals equal a recomputation from the rows."""
    for period in set(InvoiceBasis.objects.filter(municipality=m).values_list("period", flat=True)):
        assert summaries.drift(m.pk, period) == {}, period


def by_status(m: Municipality, period: str = helpers.PERIOD) -> dict[str, tuple[int, int]]:
    """(bases, total øre) per status in the kept totals of `period`."""
    out: dict[str, tuple[int, int]] = {}
    for status, bases, total in UnitMonthTotal.objects.filter(
        municipality=m, period=period
    ).values_list("status", "bases", "total_ore"):
        old = out.get(status, (0, 0))
        out[status] = (old[0] + bases, old[1] + total)
    return out
