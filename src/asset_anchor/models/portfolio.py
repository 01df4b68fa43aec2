"""What an organization owns and lets: properties, units, leases, tenants.

Every row carries its ``organization_id`` (leases and their tenants too, not
only through the unit), so that one scoping rule (``organizations.scope``)
reaches every landlord-side table without a join.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, OrganizationOwned, Timestamps

PROPERTY_KINDS = (
    "single_family",
    "multi_family",
    "apartment_building",
    "condominium",
    "townhouse",
    "mixed_use",
    "commercial",
    "other",
)
LEASE_STATUSES = ("draft", "active", "ended", "terminated")
LATE_FEE_KINDS = ("none", "flat", "percent")
LATE_FEE_FREQUENCIES = ("once", "daily")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


class Property(OrganizationOwned, Timestamps, Base):
    """A building or lot; its timezone dates its rent (due dates, late fees)."""

    __tablename__ = "properties"
    __table_args__ = (
        CheckConstraint(_one_of("kind", PROPERTY_KINDS), name="kind"),
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
        Index("ix_properties_organization_id_name", "organization_id", "name", "id"),
        Index(
            "ix_properties_organization_id_created_at",
            "organization_id",
            "created_at",
            "id",
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    address_line1: Mapped[str] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime | None]


class Unit(OrganizationOwned, Timestamps, Base):
    """A lettable part of a property (the whole of it, for a house)."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint("bedrooms IS NULL OR bedrooms BETWEEN 0 AND 100", "bedrooms"),
        CheckConstraint(
            "bathrooms IS NULL OR (bathrooms BETWEEN 0 AND 100"
            " AND bathrooms * 2 = trunc(bathrooms * 2))",
            name="bathrooms",
        ),
        CheckConstraint("area IS NULL OR area > 0", name="area"),
        CheckConstraint(
            "(area IS NULL) = (area_unit IS NULL)"
            " AND (area_unit IS NULL OR area_unit IN ('sqft', 'sqm'))",
            name="area_unit",
        ),
        CheckConstraint(
            "market_rent_amount IS NULL OR market_rent_amount >= 0",
            name="market_rent_amount",
        ),
        # Labels are unique among a property's units in use; an archived
        # unit's label may be taken again.
        Index(
            "uq_units_property_id_label",
            "property_id",
            "label",
            unique=True,
            postgresql_where=text("archived_at IS NULL"),
        ),
        Index("ix_units_organization_id_label", "organization_id", "label", "id"),
        Index(
            "ix_units_organization_id_created_at", "organization_id", "created_at", "id"
        ),
    )

    property_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("properties.id", ondelete="CASCADE")
    )
    label: Mapped[str] = mapped_column(String(64))
    bedrooms: Mapped[int | None] = mapped_column(SmallInteger)
    bathrooms: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    area: Mapped[int | None] = mapped_column(Integer)
    area_unit: Mapped[str | None] = mapped_column(String(4))
    market_rent_amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    archived_at: Mapped[datetime | None]


class Lease(OrganizationOwned, Timestamps, Base):
    """The terms on which tenants hold a unit.

    ``end_date`` is the last day of the tenancy (inclusive), or None for a
    month-to-month lease. Rent is due on ``due_day`` of each month, or on the
    month's last day where it has fewer days. The late fee, when the lease has
    one, falls due ``late_fee_grace_days`` after the due date: a flat amount
    or ``late_fee_percent_bps`` of the rent, once or every day, never more in
    all than ``late_fee_cap_amount`` for one charge.

    ``status`` moves draft → active → ended | terminated and never back; no
    two active leases of one unit overlap (checked under a lock on the unit).
    ``renewed_from_id`` links a renewal to the lease it follows.
    """

    __tablename__ = "leases"
    __table_args__ = (
        CheckConstraint(_one_of("status", LEASE_STATUSES), name="status"),
        CheckConstraint("due_day BETWEEN 1 AND 31", name="due_day"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
        CheckConstraint("rent_amount >= 0", name="rent_amount"),
        CheckConstraint("security_deposit_amount >= 0", name="security_deposit_amount"),
        CheckConstraint(
            "late_fee_grace_days BETWEEN 0 AND 60", name="late_fee_grace_days"
        ),
        CheckConstraint(_one_of("late_fee_kind", LATE_FEE_KINDS), name="late_fee_kind"),
        CheckConstraint(
            _one_of("late_fee_frequency", LATE_FEE_FREQUENCIES),
            name="late_fee_frequency",
        ),
        CheckConstraint(
            "(late_fee_kind = 'flat') = (late_fee_flat_amount IS NOT NULL)"
            " AND (late_fee_flat_amount IS NULL OR late_fee_flat_amount > 0)",
            name="late_fee_flat_amount",
        ),
        CheckConstraint(
            "(late_fee_kind = 'percent') = (late_fee_percent_bps IS NOT NULL)"
            " AND (late_fee_percent_bps IS NULL"
            " OR late_fee_percent_bps BETWEEN 1 AND 10000)",
            name="late_fee_percent_bps",
        ),
        CheckConstraint(
            "late_fee_cap_amount IS NULL OR late_fee_cap_amount > 0",
            name="late_fee_cap_amount",
        ),
        Index(
            "ix_leases_organization_id_start_date",
            "organization_id",
            "start_date",
            "id",
        ),
        Index(
            "ix_leases_organization_id_created_at",
            "organization_id",
            "created_at",
            "id",
        ),
        Index("ix_leases_unit_id_status", "unit_id", "status"),
        Index("ix_leases_property_id", "property_id"),
        Index(
            "uq_leases_renewed_from_id",
            "renewed_from_id",
            unique=True,
            postgresql_where=text("renewed_from_id IS NOT NULL"),
        ),
    )

    unit_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE")
    )
    # The unit's property, kept here so that lists filter by property alone.
    property_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("properties.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    rent_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    due_day: Mapped[int] = mapped_column(SmallInteger)
    security_deposit_amount: Mapped[int] = mapped_column(
        BigInteger, server_default=text("0")
    )
    late_fee_grace_days: Mapped[int] = mapped_column(
        SmallInteger, server_default=text("5")
    )
    late_fee_kind: Mapped[str] = mapped_column(String(8), server_default="none")
    late_fee_flat_amount: Mapped[int | None] = mapped_column(BigInteger)
    late_fee_percent_bps: Mapped[int | None] = mapped_column(Integer)
    late_fee_frequency: Mapped[str] = mapped_column(String(8), server_default="once")
    late_fee_cap_amount: Mapped[int | None] = mapped_column(BigInteger)
    renewed_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("leases.id", ondelete="SET NULL")
    )
    notes: Mapped[str | None] = mapped_column(Text)
    activated_at: Mapped[datetime | None]
    # The last day the tenants held the unit, once the lease is over.
    ended_on: Mapped[date | None] = mapped_column(Date)
    ended_at: Mapped[datetime | None]
    termination_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class LeaseTenant(OrganizationOwned, Timestamps, Base):
    """A person on a lease, by name; ``user_id`` once they have accepted an
    invitation and can sign in to see it."""

    __tablename__ = "lease_tenants"
    __table_args__ = (
        Index("ix_lease_tenants_lease_id", "lease_id"),
        Index(
            "uq_lease_tenants_lease_id_user_id",
            "lease_id",
            "user_id",
            unique=True,
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index(
            "ix_lease_tenants_user_id",
            "user_id",
            postgresql_where=text("user_id IS NOT NULL"),
        ),
    )

    lease_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leases.id", ondelete="CASCADE")
    )
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
