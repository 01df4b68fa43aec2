"""CSV cells: money in major units, user text that cannot run as a formula."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal

import pytest

from asset_anchor.kit.csv_export import Money, cell, guarded, render
from asset_anchor.openapi import build_document


class TestCells:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("=1+2", "'=1+2"),
            ("+44 20 7946 0000", "'+44 20 7946 0000"),
            ("-rent", "'-rent"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\tindented", "'\tindented"),
            ("\rreturn", "'\rreturn"),
            ("Flat 2=B", "Flat 2=B"),
            ("", ""),
        ],
    )
    def test_text_starting_like_a_formula_gets_an_apostrophe(
        self, text: str, shown: str
    ) -> None:
        assert guarded(text) == shown
        assert cell(text) == shown

    @pytest.mark.parametrize(
        ("amount", "currency", "shown"),
        [
            (123_456, "USD", "1234.56"),
            (-5_000, "USD", "-50.00"),
            (0, "EUR", "0.00"),
            (7, "GBP", "0.07"),
            (98_000, "JPY", "98000"),
            (-1, "JPY", "-1"),
        ],
    )
    def test_money_is_decimal_major_units_and_negatives_stay_numbers(
        self, amount: int, currency: str, shown: str
    ) -> None:
        assert cell(Money(amount, currency)) == shown

    def test_dates_ids_numbers_and_blanks(self) -> None:
        some_id = uuid.uuid4()

        assert cell(date(2026, 3, 1)) == "2026-03-01"
        assert cell(some_id) == str(some_id)
        assert cell(-3) == "-3"
        assert cell(Decimal("-1.50")) == "-1.50"
        assert cell(None) == ""


class TestRender:
    def test_a_header_then_rows_quoted_where_needed_with_crlf(self) -> None:
        text = render(
            ("name", "amount"),
            [['He said "hi", then left', Money(100, "USD")], ["line\nbreak", None]],
        )

        assert text == (
            'name,amount\r\n"He said ""hi"", then left",1.00\r\n"line\nbreak",\r\n'
        )
        assert list(csv.reader(io.StringIO(text))) == [
            ["name", "amount"],
            ['He said "hi", then left', "1.00"],
            ["line\nbreak", ""],
        ]


class TestDocumented:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/leases/{lease_id}/statement",
            "/api/v1/me/leases/{lease_id}/statement",
            "/api/v1/reports/rent-roll",
            "/api/v1/reports/aging",
        ],
    )
    def test_the_csv_form_is_in_the_openapi_document(self, path: str) -> None:
        operation = build_document()["paths"][path]["get"]

        content = operation["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/csv"}
        assert "format" in [parameter["name"] for parameter in operation["parameters"]]
