"""Organizations (a landlord's business) and the staff who belong to them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, OrganizationOwned, Timestamps, UUIDPrimaryKey

MembershipRole = Literal["owner", "manager"]
MEMBERSHIP_ROLES: tuple[MembershipRole, ...] = ("owner", "manager")


class Organization(UUIDPrimaryKey, Timestamps, Base):
    """A landlord's business: every property, lease and payment hangs off one.

    The contact details are what its tenants see as their landlord's; the
    default currency prices new units and leases unless they say otherwise.
    """

    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(
            "rent_charge_days_ahead BETWEEN 0 AND 60", name="rent_charge_days_ahead"
        ),
        CheckConstraint(
            "rent_reminder_days_before BETWEEN 0 AND 30",
            name="rent_reminder_days_before",
        ),
        CheckConstraint(
            "platform_fee_bps BETWEEN 0 AND 10000", name="platform_fee_bps"
        ),
        Index(
            "uq_organizations_stripe_account_id",
            "stripe_account_id",
            unique=True,
            postgresql_where=text("stripe_account_id IS NOT NULL"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    mailing_address: Mapped[str | None] = mapped_column(String(500))
    default_currency: Mapped[str] = mapped_column(
        String(3), server_default=text("'USD'")
    )
    # Billing: how many days before its due date a rent charge is made, and
    # how many days before it the tenants are reminded (0: no early reminder;
    # they are reminded on the day either way).
    rent_charge_days_ahead: Mapped[int] = mapped_column(
        SmallInteger, server_default=text("7")
    )
    rent_reminder_days_before: Mapped[int] = mapped_column(
        SmallInteger, server_default=text("3")
    )
    # Online payments: the organization's Stripe Connect account and what
    # Stripe last said of it (``stripe_account_seen_at``: the time of that
    # word, so that an older event never overwrites a newer state).
    stripe_account_id: Mapped[str | None] = mapped_column(String(64))
    stripe_charges_enabled: Mapped[bool] = mapped_column(server_default=text("false"))
    stripe_payouts_enabled: Mapped[bool] = mapped_column(server_default=text("false"))
    stripe_details_submitted: Mapped[bool] = mapped_column(server_default=text("false"))
    stripe_account_seen_at: Mapped[datetime | None]
    stripe_disconnected_at: Mapped[datetime | None]
    platform_fee_bps: Mapped[int] = mapped_column(
        SmallInteger, server_default=text("0")
    )


class OrganizationMembership(OrganizationOwned, Timestamps, Base):
    """A staff user's place in an organization.

    A staff user belongs to one organization today (the service enforces it,
    under a lock on the user's row); the table allows more so that it can
    later without a migration.
    """

    __tablename__ = "organization_memberships"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        CheckConstraint("role IN ('owner', 'manager')", name="role"),
        Index("ix_organization_memberships_user_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
