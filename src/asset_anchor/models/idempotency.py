"""Stored answers to requests that carried an ``Idempotency-Key`` header."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, CreatedAt, UUIDPrimaryKey


class IdempotencyKey(UUIDPrimaryKey, CreatedAt, Base):
    """One client key, per caller, with the fingerprint of its request.

    The same key with the same request body replays the stored answer; the same
    key with another body is a conflict. Rows expire after the retention window
    and the worker's ``maintenance.prune_idempotency_keys`` job deletes them.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    expires_at: Mapped[datetime]
