"""Organizations (a landlord's business) and the staff who belong to them."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, Timestamps, UUIDPrimaryKey

MembershipRole = Literal["owner", "manager"]
MEMBERSHIP_ROLES: tuple[MembershipRole, ...] = ("owner", "manager")


class Organization(UUIDPrimaryKey, Timestamps, Base):
    """A landlord's business: every property, lease and payment hangs off one."""

    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))


class OrganizationMembership(UUIDPrimaryKey, Timestamps, Base):
    """A staff user's place in an organization.

    A staff user belongs to one organization today (the service enforces it);
    the table allows more so that it can later without a migration.
    """

    __tablename__ = "organization_memberships"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        CheckConstraint("role IN ('owner', 'manager')", name="role"),
        Index("ix_organization_memberships_user_id", "user_id"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
