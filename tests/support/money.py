"""The tests' own money arithmetic, independent of the code under test: exact Decimals, one half-up rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

# Minor-unit exponents of the currencies the tests use most.
EXPONENTS = {"JPY": 0, "USD": 2, "KWD": 3}


def half_up(value: Decimal, exponent: int) -> Decimal:
    """Round value to `exponent` decimals, half-up, with no earlier rounding."""
    with localcontext(prec=200):
        return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)
