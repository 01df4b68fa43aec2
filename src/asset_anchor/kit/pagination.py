"""Cursor pagination, sorting and name search for list endpoints.

Every list answers ``{"items": [...], "next_cursor": ...}``. Pages are cut by
keyset, never by offset: the cursor holds the sort value and the id of the
last row shown, and the next page starts strictly after that pair. The id is
the tie-breaker, so the order is total and stable while rows are added.

A list declares the orders it offers as a ``Sorting`` (API name → column);
``sort=name`` is ascending and ``sort=-name`` descending. A cursor names the
order it was made for, and using it with another is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.orm import QueryableAttribute

from asset_anchor.errors import BadRequest

T = TypeVar("T")
Row = TypeVar("Row")
ValueKind = Literal["text", "datetime", "date", "integer"]
Column = ColumnElement[Any] | QueryableAttribute[Any]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description="How many items to answer, 1 to 100."),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="The `next_cursor` of the previous page; absent for the first.",
    ),
]
Search = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="Case-insensitive text that the name or address contains.",
    ),
]


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    title = "The cursor is not valid"


class InvalidSort(BadRequest):
    code = "invalid_sort"
    title = "The list cannot be sorted that way"


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back for the next one."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Absent (null) on the last page.", default=None
    )


@dataclass(frozen=True)
class SortColumn:
    column: Column
    kind: ValueKind


@dataclass(frozen=True)
class Order:
    """A chosen order: which column, which way, and the id that breaks ties."""

    name: str
    column: Column
    kind: ValueKind
    descending: bool
    id_column: Column

    @property
    def token(self) -> str:
        return f"-{self.name}" if self.descending else self.name


@dataclass(frozen=True)
class Sorting:
    """The orders a list offers, and its default (``-created_at`` style)."""

    columns: dict[str, SortColumn]
    default: str
    id_column: Column

    @property
    def choices(self) -> list[str]:
        return [f"{prefix}{name}" for name in self.columns for prefix in ("", "-")]

    def order(self, requested: str | None) -> Order:
        token = (requested or self.default).strip()
        descending = token.startswith("-")
        name = token.removeprefix("-")
        chosen = self.columns.get(name)
        if chosen is None:
            raise InvalidSort(
                f"Sort by one of: {', '.join(self.choices)}.",
                allowed=self.choices,
            )
        return Order(name, chosen.column, chosen.kind, descending, self.id_column)


def _encode_value(value: Any, kind: ValueKind) -> Any:
    if kind in ("datetime", "date"):
        assert isinstance(value, date)
        return value.isoformat()
    return value


def _decode_value(raw: Any, kind: ValueKind) -> Any:
    if kind == "datetime" and isinstance(raw, str):
        parsed = datetime.fromisoformat(raw)
        if parsed.tzinfo is None:
            raise ValueError("naive timestamp")
        return parsed
    if kind == "date" and isinstance(raw, str):
        return date.fromisoformat(raw)
    if kind == "integer" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind == "text" and isinstance(raw, str):
        return raw
    raise ValueError("cursor value of the wrong type")


def encode_cursor(order: Order, value: Any, row_id: uuid.UUID) -> str:
    value = _encode_value(value, order.kind)
    payload = {"s": order.token, "v": value, "i": str(row_id)}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(order: Order, cursor: str) -> tuple[Any, uuid.UUID]:
    """The (sort value, id) a cursor resumes after; 400 for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("s") != order.token:
            raise ValueError("cursor of another order")
        return _decode_value(payload["v"], order.kind), uuid.UUID(str(payload["i"]))
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise InvalidCursor(
            "Pass back the next_cursor of a page of this list, with the same sort."
        ) from error


def paginate(
    statement: Select[Any], order: Order, cursor: str | None, limit: int
) -> Select[Any]:
    """Order the statement, start it after the cursor, fetch one extra row."""
    key = tuple_(order.column, order.id_column)
    if cursor is not None:
        after = tuple_(*decode_cursor(order, cursor))
        statement = statement.where(key < after if order.descending else key > after)
    if order.descending:
        statement = statement.order_by(order.column.desc(), order.id_column.desc())
    else:
        statement = statement.order_by(order.column.asc(), order.id_column.asc())
    return statement.limit(limit + 1)


def cut_page(
    rows: Sequence[Row],
    order: Order,
    limit: int,
    key: Callable[[Row], tuple[Any, uuid.UUID]],
) -> tuple[list[Row], str | None]:
    """The page's rows and the cursor of the next page (None on the last)."""
    shown = list(rows[:limit])
    if len(rows) <= limit or not shown:
        return shown, None
    value, row_id = key(shown[-1])
    return shown, encode_cursor(order, value, row_id)


def contains(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, its wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
