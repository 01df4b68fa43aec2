"""The rent ledger: what a lease's tenants owe and paid, as rows never edited.

A lease's balance is the sum of its entries' ``balance_effect``: charges and
refunds add, credits and payments subtract, and a reversal (``reverses_id``)
undoes the row it names. No stored balance exists that could drift from it.
Allocations say which payment or credit paid which charge; they too are only
ever added (a negative row releases an earlier one).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.kit.time import utc_now
from asset_anchor.models.base import Base, OrganizationOwned

ENTRY_TYPES = ("charge", "credit", "payment", "refund")
CHARGE_CATEGORIES = ("rent", "late_fee", "deposit", "deposit_deduction", "other")
CREDIT_CATEGORIES = ("concession", "waiver", "deposit_release", "other")
PAYMENT_METHODS = (
    "cash",
    "check",
    "bank_transfer",
    "card",
    "us_bank_account",
    "other",
)

_EFFECT = (
    "CASE WHEN entry_type IN ('charge', 'refund') THEN amount ELSE -amount END"
    " * CASE WHEN reverses_id IS NULL THEN 1 ELSE -1 END"
)


def _listed(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class LedgerEntry(OrganizationOwned, Base):
    """One charge, credit, payment or refund of a lease, or a reversal of one.

    ``effective_on`` is the day it counts from, in the property's calendar:
    a charge's due date, the day a payment was received. A rent charge covers
    ``period_start`` to ``period_end`` and is unique per lease and ``rent_period``
    (the month); a late fee is unique per rent charge (``source_entry_id``) and
    ``fee_key`` (``once``, or the day of a daily fee). Those keys, not a check
    in code, make the scheduled jobs create each charge exactly once.

    ``source_entry_id`` also ties a waiver to the charge it forgives and a
    refund to the payment or credit it gives back.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(_listed("entry_type", ENTRY_TYPES), name="entry_type"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(
            "entry_type <> 'charge' OR " + _listed("category", CHARGE_CATEGORIES),
            name="charge_category",
        ),
        CheckConstraint(
            "entry_type <> 'credit' OR " + _listed("category", CREDIT_CATEGORIES),
            name="credit_category",
        ),
        CheckConstraint(
            "entry_type NOT IN ('payment', 'refund') OR method IS NOT NULL",
            name="method",
        ),
        CheckConstraint(
            "(category = 'rent' AND entry_type = 'charge') = (rent_period IS NOT NULL)",
            name="rent_period",
        ),
        CheckConstraint(
            "reverses_id IS NULL OR reason IS NOT NULL", name="reversal_reason"
        ),
        Index(
            "ix_ledger_entries_lease_id_effective_on",
            "lease_id",
            "effective_on",
            "created_at",
            "id",
        ),
        Index(
            "ix_ledger_entries_organization_id_effective_on",
            "organization_id",
            "effective_on",
        ),
        Index(
            "uq_ledger_entries_rent_period",
            "lease_id",
            "rent_period",
            unique=True,
            postgresql_where=text("rent_period IS NOT NULL AND reverses_id IS NULL"),
        ),
        Index(
            "uq_ledger_entries_late_fee",
            "source_entry_id",
            "fee_key",
            unique=True,
            postgresql_where=text(
                "category = 'late_fee' AND entry_type = 'charge'"
                " AND reverses_id IS NULL"
            ),
        ),
        Index(
            "uq_ledger_entries_reverses_id",
            "reverses_id",
            unique=True,
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
        Index(
            "uq_ledger_entries_external_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index(
            "ix_ledger_entries_source_entry_id",
            "source_entry_id",
            postgresql_where=text("source_entry_id IS NOT NULL"),
        ),
    )

    # The clock at the write, so the entries of one request keep their order.
    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=text("now()")
    )
    lease_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leases.id"))
    entry_type: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    balance_effect: Mapped[int] = mapped_column(
        BigInteger, Computed(_EFFECT, persisted=True)
    )
    effective_on: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    rent_period: Mapped[date | None] = mapped_column(Date)
    source_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_entries.id")
    )
    fee_key: Mapped[str | None] = mapped_column(String(16))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_entries.id")
    )
    method: Mapped[str | None] = mapped_column(String(24))
    reference: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # What Stripe calls the money this row records (a PaymentIntent, a refund,
    # a dispute): unique, so an event handled twice writes one row.
    external_id: Mapped[str | None] = mapped_column(String(100))


class Allocation(OrganizationOwned, Base):
    """A part of a payment or credit applied to a charge (negative: released).

    What a charge still owes is its amount less its allocations; what a
    payment or credit still has to give is its amount less its allocations
    and refunds. Allocating locks the lease, so two payments at once never
    pay the same charge twice.
    """

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount"),
        Index("ix_allocations_lease_id", "lease_id"),
        Index("ix_allocations_charge_id", "charge_id"),
        Index("ix_allocations_funding_id", "funding_id"),
    )

    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=text("now()")
    )
    lease_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leases.id"))
    funding_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_entries.id"))
    charge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_entries.id"))
    amount: Mapped[int] = mapped_column(BigInteger)


class BillingNotice(OrganizationOwned, Base):
    """An email about money sent once per recipient and occasion.

    ``occasion`` names what it is about (``reminder:<charge id>:3``,
    ``receipt:<payment id>``, ``statement:2026-11``); the unique key makes a
    second run of the same job send nothing.
    """

    __tablename__ = "billing_notices"
    __table_args__ = (
        Index(
            "uq_billing_notices_occasion",
            "lease_id",
            "recipient",
            "occasion",
            unique=True,
        ),
    )

    created_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=text("now()")
    )
    lease_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("leases.id", ondelete="CASCADE")
    )
    recipient: Mapped[str] = mapped_column(String(320))
    occasion: Mapped[str] = mapped_column(String(100))
    email_id: Mapped[uuid.UUID | None]


__all__ = [
    "CHARGE_CATEGORIES",
    "CREDIT_CATEGORIES",
    "ENTRY_TYPES",
    "PAYMENT_METHODS",
    "Allocation",
    "BillingNotice",
    "LedgerEntry",
]
