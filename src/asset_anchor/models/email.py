"""Outgoing emails and the addresses we must not mail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, CreatedAt


class Email(CreatedAt, Base):
    """One email to one recipient, queued in a transaction, sent by the worker.

    ``sent_at`` or ``suppressed_at`` is set once the worker is done with it;
    until then it is pending, and a failure to send is recorded on its
    ``email.send`` outbox job (dead with the reason, replayable). The context
    holds JSON values only (ids, names, ISO timestamps), rendered at send time.
    ``secret_context`` holds what must not sit in the database readable (the
    one-time token of a link), encrypted, and is wiped once the worker is
    done with the email.
    """

    __tablename__ = "emails"
    __table_args__ = (
        Index("ix_emails_to_address_created_at", "to_address", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    to_address: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str | None] = mapped_column(String(200))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB)
    secret_context: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(500))
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None]
    suppressed_at: Mapped[datetime | None]


class EmailSuppression(Base):
    """An address that bounced hard or complained: never mail it again.

    Addresses are stored lower-cased; one row per address.
    """

    __tablename__ = "email_suppressions"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64))
    source_event_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    suppressed_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
