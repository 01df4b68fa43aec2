from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from asset_anchor.kit.money import (
    Currency,
    UnsupportedCurrencyError,
    from_minor_units,
    to_minor_units,
)

currency_field: TypeAdapter[str] = TypeAdapter(Currency)


class TestToMinorUnits:
    def test_half_a_cent_rounds_to_even_by_default(self) -> None:
        cents = to_minor_units(Decimal("12.345"), "USD")

        assert cents == 1234

    def test_half_a_cent_rounds_up_when_asked(self) -> None:
        cents = to_minor_units(Decimal("12.345"), "USD", rounding=ROUND_HALF_UP)

        assert cents == 1235

    def test_lower_case_currency_is_accepted(self) -> None:
        cents = to_minor_units(Decimal("7.5"), "eur")

        assert cents == 750

    def test_unsupported_currency_is_refused(self) -> None:
        with pytest.raises(UnsupportedCurrencyError):
            to_minor_units(Decimal("1.00"), "XYZ")


class TestFromMinorUnits:
    def test_cents_become_an_exact_decimal(self) -> None:
        amount = from_minor_units(1234, "usd")

        assert amount == Decimal("12.34")
        assert str(amount) == "12.34"

    def test_unsupported_currency_is_refused(self) -> None:
        with pytest.raises(UnsupportedCurrencyError):
            from_minor_units(1234, "XTS")

    def test_a_currency_without_minor_digits_counts_whole_units(self) -> None:
        assert from_minor_units(1234, "JPY") == Decimal("1234")
        assert to_minor_units(Decimal("1234.4"), "JPY") == 1234


class TestCurrencyField:
    def test_lower_case_code_is_upper_cased(self) -> None:
        code = currency_field.validate_python("usd")

        assert code == "USD"

    @pytest.mark.parametrize("code", ["XYZ", "US"])
    def test_unknown_or_malformed_code_is_refused(self, code: str) -> None:
        with pytest.raises(ValidationError):
            currency_field.validate_python(code)
