"""The one amount rule: a line's amount is quantity × unit price in whole øre, ties away from zero
(ROUND_HALF_UP; −50,255 kr → −50,26 kr). Plain Python, no Django, so the format writers and the
Visma mapping check exactly what intake checks."""

from __future__ import annotations

from decimal import Decimal


def amount_for(hundredths: int, unit_price_ore: int) -> int:
    """`hundredths` is the quantity × 100, so the product is in 1/100 øre and integer arithmetic
    rounds exactly."""
    product = hundredths * unit_price_ore
    magnitude = (abs(product) + 50) // 100
    return -magnitude if product < 0 else magnitude


def amount_for_quantity(quantity: Decimal, unit_price_ore: int) -> int:
    """The same rule for a Decimal quantity with at most two decimals."""
    scaled = quantity.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"quantity {quantity} has more than two decimals")
    return amount_for(int(scaled), unit_price_ore)
