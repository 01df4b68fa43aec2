"""One source of "now", always aware and in UTC."""

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current instant as an aware UTC datetime."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; refuse a naive one rather than guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: an explicit offset is required")
    return value.astimezone(UTC)
