"""Invitations: a manager to an organization, or a tenant to a lease."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, OrganizationOwned, Timestamps

INVITATION_KINDS = ("manager", "tenant")


class Invitation(OrganizationOwned, Timestamps, Base):
    """An emailed offer to join, accepted once with its token.

    The token is stored only as its SHA-256; resending makes a new token and
    voids the old one. A tenant invitation names the lease and the person on
    it (``lease_tenant_id``) whom accepting attaches to the account. It is
    pending until accepted, revoked or past ``expires_at``.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("kind IN ('manager', 'tenant')", name="kind"),
        CheckConstraint(
            "(kind = 'tenant') = (lease_id IS NOT NULL)"
            " AND (lease_id IS NULL) = (lease_tenant_id IS NULL)",
            name="tenant_has_lease",
        ),
        Index(
            "ix_invitations_organization_id_created_at",
            "organization_id",
            "created_at",
            "id",
        ),
        Index(
            "ix_invitations_lease_id",
            "lease_id",
            postgresql_where=text("lease_id IS NOT NULL"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(320))
    email_normalized: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str | None] = mapped_column(String(200))
    lease_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("leases.id", ondelete="CASCADE")
    )
    lease_tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("lease_tenants.id", ondelete="CASCADE")
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[datetime]
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    last_sent_at: Mapped[datetime]
    send_count: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    accepted_at: Mapped[datetime | None]
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]
