"""The tests' own money arithmetic, independent of the code under test: exact Decimals, one half-up rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

# Minor-unit exponents of the currencies the tests use most.
EXPONENTS = {"JPY": 0, "USD": 2, "KWD": 3}


def half_up(value: Decimal, exponent: int) -> Decimal:
    """Round value to `exponent` decimals, half-up, with no earlier rounding."""
    with localcontext(prec=200):
        return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


# (currency, quantity, unit_amount, line amount): a line's amount is the exact product, rounded half-up once to the
# currency's minor unit. Cases floats get wrong, double rounding would get wrong, and 17-digit values.
LINE_AMOUNTS: list[tuple[str, str, str, str]] = [
    ("JPY", "2.5", "1", "3"),
    ("JPY", "1", "1234.5", "1235"),
    ("JPY", "0.5", "5", "3"),
    ("USD", "3", "0.125", "0.38"),
    ("USD", "1", "0.125", "0.13"),
    ("USD", "0.1", "0.2", "0.02"),
    ("USD", "3", "0.1", "0.30"),
    ("USD", "1", "2.675", "2.68"),
    ("USD", "1", "1.005", "1.01"),
    ("USD", "1000000", "0.0000005", "0.50"),
    # 29 significant digits: Python's default 28-digit context would round this to
    # ...125 before the half-up rounding and give .13 (double rounding).
    ("USD", "1", "12345678901234567.124999999999", "12345678901234567.12"),
    ("USD", "3", "4115226300411522.374999999999", "12345678901234567.12"),
    ("USD", "99999999999999999", "99999999999999999", "9999999999999999800000000000000001.00"),
    ("KWD", "1", "0.0005", "0.001"),
    ("KWD", "0.0005", "1", "0.001"),
    ("KWD", "2", "0.0004", "0.001"),
    ("KWD", "3", "0.3335", "1.001"),
]
