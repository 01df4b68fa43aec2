"""CSV downloads: one header row, then data; safe to open in a spreadsheet.

Money goes out as decimal major units (``1234.56``) beside a currency column,
never as floats. Text cells are user input (names, descriptions, reasons), so
one that a spreadsheet would read as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) gets a leading apostrophe: the cell
shows as text and runs nothing. Numbers and dates we format ourselves are not
touched, so a negative amount stays a number.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from asset_anchor.kit.money import from_minor_units

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Money:
    """An amount in minor units, written as its major-unit decimal."""

    amount: int
    currency: str


Cell = str | int | Decimal | date | uuid.UUID | Money | None


def guarded(text: str) -> str:
    """Text a spreadsheet shows as typed, never evaluates."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Money):
        return format(from_minor_units(value.amount, value.currency), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | date | uuid.UUID):
        return str(value)
    return guarded(value)


def render(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """RFC 4180 text: CRLF line ends, fields quoted where they need it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue()


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> Response:
    """A download named ``filename`` (ours, never user input)."""
    return Response(
        content=render(header, rows).encode("utf-8"),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def csv_openapi(description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry that documents the CSV form of a 200."""
    return {
        200: {
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
