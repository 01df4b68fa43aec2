"""Money as integer minor units plus an ISO 4217 currency code.

Amounts never travel as floats. Arithmetic that can produce fractions of a
minor unit (proration, percentage fees) is done in ``Decimal`` and converted to
minor units exactly once, with the rounding mode stated at the call site.
"""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

# The currencies the platform settles in, with their ISO 4217 minor-unit
# exponent. Stripe Connect supports more; a currency is added here (and
# reviewed) before any lease may be priced in it.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "CAD": 2,
    "EUR": 2,
    "GBP": 2,
    "AUD": 2,
    "NZD": 2,
    "JPY": 0,
}


class UnsupportedCurrencyError(ValueError):
    """A currency code that is not ISO 4217 or not settled by the platform."""


def normalize_currency(code: str) -> str:
    """Upper-case a currency code and check that the platform supports it."""
    upper = code.strip().upper()
    if upper not in CURRENCY_EXPONENTS:
        supported = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise UnsupportedCurrencyError(
            f"unsupported currency {code!r}; supported: {supported}"
        )
    return upper


def to_minor_units(
    amount: Decimal, currency: str, *, rounding: str = ROUND_HALF_EVEN
) -> int:
    """Convert a major-unit decimal amount (12.345 USD) to minor units (1234)."""
    exponent = CURRENCY_EXPONENTS[normalize_currency(currency)]
    scaled = (amount * (Decimal(10) ** exponent)).quantize(
        Decimal(1), rounding=rounding
    )
    return int(scaled)


def from_minor_units(amount: int, currency: str) -> Decimal:
    """Convert minor units back to an exact major-unit decimal."""
    exponent = CURRENCY_EXPONENTS[normalize_currency(currency)]
    return Decimal(amount).scaleb(-exponent)


Currency = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        description="ISO 4217 currency code, upper case (for example USD).",
        examples=["USD"],
    ),
    AfterValidator(normalize_currency),
]
"""A request or response field holding a supported currency code."""

MinorUnits = Annotated[
    int,
    Field(
        ge=0,
        le=10**12,
        description="Amount in the currency's minor unit (cents for USD).",
    ),
]
"""A non-negative money amount in minor units."""


def format_amount(amount: int, currency: str) -> str:
    """Minor units as people read them: ``1,234.56 USD``, ``98,000 JPY``."""
    exponent = CURRENCY_EXPONENTS[normalize_currency(currency)]
    major = from_minor_units(amount, currency)
    return f"{major:,.{exponent}f} {currency.upper()}"
