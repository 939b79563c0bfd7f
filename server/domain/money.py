"""Money: currencies, exact decimal parsing and the one rounding rule.

Amounts are `Decimal` end to end. An amount on an invoice is rounded to its
currency's minor unit (ISO 4217 exponent) with ROUND_HALF_UP, by `round_money`
and nowhere else; unit prices and quantities keep the precision they came with.

The rounding point of a line (SPEC 4.1), one rule for every line:
- everything that makes up a line is computed exactly: tier and matrix cells
  (sub-line items carry these exact amounts), the model's subtotal, proration,
  and the adjustments in Orb's order (usage discount, amount discount,
  percentage discount, minimum, maximum);
- each figure the line shows is its exact running value rounded half-up once
  (`rounded_steps`): the subtotal, the adjusted subtotal and the amount; an
  adjustment shows the change it makes to the rounded running value, so that
  subtotal + adjustments = adjusted subtotal exactly;
- so a discount is never rounded on its own: the discounted amount is (10.05
  less 10% is 9.045, billed 9.05 with a discount of 1.00).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Final, ParamSpec, TypeVar

from server.domain.errors import InvalidArgument, Violations

# ISO 4217 active codes whose minor unit is not 2 decimals.
_EXPONENT_OVERRIDES: Final[dict[str, int]] = {
    # 0 decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # 3 decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 decimals
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# ISO 4217 active codes with a 2-decimal minor unit.
_TWO_DECIMAL_CODES: Final[str] = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD
LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN
PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL
"""

CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(_TWO_DECIMAL_CODES.split(), 2),
    **_EXPONENT_OVERRIDES,
}

# Digits before and after the point that any decimal on the wire may have. 18
# integer digits cover every real amount; 12 fraction digits cover unit prices
# such as "0.000000000125".
MAX_INTEGER_DIGITS: Final = 18
MAX_FRACTION_DIGITS: Final = 12
_DECIMAL_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")

# Decimal arithmetic on money runs in this context: wide enough that products
# and sums of wire decimals (30 digits each, 500 lines) are exact, so that the
# half-up rounding of round_money is the only rounding. Python's default
# context keeps 28 digits: it would round products first (double rounding) and
# fail on large amounts.
EXACT: Final = Context(prec=120)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def exact_context() -> AbstractContextManager[Context]:
    """A `with` block whose Decimal arithmetic runs in the EXACT context."""
    return localcontext(EXACT)


def exact(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run fn with Decimal arithmetic in the EXACT context."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(EXACT):
            return fn(*args, **kwargs)

    return wrapper


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 code."""
    return code in CURRENCY_EXPONENTS


def exponent(currency: str) -> int:
    """The currency's minor-unit exponent (JPY 0, USD 2, KWD 3)."""
    return CURRENCY_EXPONENTS[currency]


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit, half-up. The only rounding rule."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP, context=EXACT)


def rounded_steps(start: Decimal, steps: Sequence[Decimal], currency: str) -> tuple[Decimal, list[Decimal]]:
    """The line rounding rule: an exact starting value and the exact value after each step, shown rounded.

    Returns the start rounded once and, for each step, the change it makes to
    the rounded running value; the start plus every change is the last value
    rounded once, so nothing is ever rounded twice and the shown figures add up.
    """
    shown = round_money(start, currency)
    changes = []
    previous = shown
    for value in steps:
        rounded = round_money(value, currency)
        changes.append(rounded - previous)
        previous = rounded
    return shown, changes


def exact_amount(amount: Decimal, currency: str) -> Decimal:
    """An exact (unrounded) amount written at least to the currency's minor unit and without trailing zeros
    past it: "10.000" → "10.00", "0.0150" → "0.015". Only the notation changes, never the value."""
    if fits_currency(amount, currency):
        return amount.quantize(_quantum(currency), context=EXACT)
    return amount.normalize(context=EXACT)


def zero(currency: str) -> Decimal:
    """Zero with the currency's scale ("0.00" for USD)."""
    return _quantum(currency) * 0


def fits_currency(amount: Decimal, currency: str) -> bool:
    """True when the amount has no more decimals than the currency's minor unit."""
    return amount == round_money(amount, currency)


def amount_in(amount: Decimal, currency: str, field: str) -> Decimal:
    """The amount at the currency's scale ("5" → "5.00" in USD); InvalidArgument if it is more precise."""
    if not fits_currency(amount, currency):
        raise InvalidArgument.one(field, f"has more decimal places than {currency} allows ({exponent(currency)})")
    return round_money(amount, currency)  # the same value, at the currency's scale


def parse_decimal(
    text: str,
    field: str,
    violations: Violations,
    *,
    allow_negative: bool = False,
    allow_zero: bool = True,
    max_fraction_digits: int = MAX_FRACTION_DIGITS,
) -> Decimal | None:
    """Parse a decimal string from the wire, or record why it is not one.

    Accepts plain notation only ("12.50", "-3", "0.0005"): no exponent, no
    spaces, no NaN or infinity, at most 18 integer and `max_fraction_digits`
    fraction digits. Returns None (and records a violation) when invalid.
    """
    if not _DECIMAL_RE.fullmatch(text):
        violations.add(field, f'must be a decimal string such as "12.50", got {text[:40]!r}')
        return None
    value = Decimal(text)
    integer_part, _, fraction_part = text.lstrip("-").partition(".")
    if len(integer_part) > MAX_INTEGER_DIGITS:
        violations.add(field, f"has more than {MAX_INTEGER_DIGITS} integer digits")
        return None
    if len(fraction_part) > max_fraction_digits:
        violations.add(field, f"has more than {max_fraction_digits} decimal places")
        return None
    if value < 0 and not allow_negative:
        violations.add(field, "must not be negative")
        return None
    if value == 0 and not allow_zero:
        violations.add(field, "must be greater than zero")
        return None
    return value


def parse_amount(
    text: str,
    currency: str,
    field: str,
    violations: Violations,
    *,
    allow_negative: bool = False,
    allow_zero: bool = True,
) -> Decimal | None:
    """Parse a money amount that must fit the currency's minor unit ("12.345" fails in USD)."""
    value = parse_decimal(text, field, violations, allow_negative=allow_negative, allow_zero=allow_zero)
    if value is not None and currency in CURRENCY_EXPONENTS and not fits_currency(value, currency):
        violations.add(field, f"has more decimal places than {currency} allows ({exponent(currency)})")
        return None
    return value


def to_wire(amount: Decimal) -> str:
    """Format a Decimal for the wire in plain notation (never "1E+3")."""
    return format(amount, "f")
