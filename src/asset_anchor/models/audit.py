"""The organization's audit log: who changed what, when, in which request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.kit.time import utc_now
from asset_anchor.models.base import Base, OrganizationOwned


class AuditEvent(OrganizationOwned, Base):
    """One write to an organization's data. Never updated or deleted.

    ``changes`` maps each changed field to ``{"from": …, "to": …}`` (JSON
    values: ids and dates as strings); ``actor_id`` is None for the system
    (a scheduled job) or a deleted user.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(
            "ix_audit_events_organization_id_created_at",
            "organization_id",
            "created_at",
            "id",
        ),
        Index(
            "ix_audit_events_organization_id_entity_id",
            "organization_id",
            "entity_id",
            "created_at",
        ),
    )

    # The clock at the write, so the events of one request keep their order.
    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=text("now()")
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    changes: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    request_id: Mapped[str | None] = mapped_column(String(128))
