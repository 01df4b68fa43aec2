"""Online payments through Stripe, Stripe's events, refunds and our checkpoints.

A tenant's online payment is ``online_payments``: made before Stripe's
PaymentIntent (so that our id keys it), followed through Stripe's states, and
written to the ledger as a payment only once Stripe says it succeeded.
Stripe's webhook events land in ``stripe_events`` first (an inbox, one row
per event id) and are handled by the worker from there.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, OrganizationOwned, Timestamps

ONLINE_METHODS = ("card", "us_bank_account")
ONLINE_STATUSES = ("pending", "processing", "succeeded", "failed", "canceled")
REFUND_STATUSES = ("requested", "pending", "succeeded", "failed", "canceled")


class OnlinePayment(OrganizationOwned, Timestamps, Base):
    """A tenant's card or bank payment, from its PaymentIntent to the ledger.

    ``status`` mirrors Stripe's: ``pending`` until the tenant confirms,
    ``processing`` while a bank debit clears, then ``succeeded`` (the ledger
    has its payment, ``ledger_entry_id``), ``failed`` or ``canceled``. A bank
    payment may still fail after it succeeded; the ledger's payment is then
    reversed.
    """

    __tablename__ = "online_payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("method IN ('card', 'us_bank_account')", name="method"),
        CheckConstraint(
            "status IN ('pending', 'processing', 'succeeded', 'failed', 'canceled')",
            name="status",
        ),
        Index(
            "uq_online_payments_stripe_payment_intent_id",
            "stripe_payment_intent_id",
            unique=True,
            postgresql_where=text("stripe_payment_intent_id IS NOT NULL"),
        ),
        Index("ix_online_payments_lease_id", "lease_id"),
        Index(
            "ix_online_payments_open",
            "updated_at",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
    )

    lease_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leases.id"))
    payer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    application_fee_amount: Mapped[int] = mapped_column(
        BigInteger, server_default=text("0")
    )
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64))
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ledger_entries.id")
    )
    failure_message: Mapped[str | None] = mapped_column(String(500))
    succeeded_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]


class StripeRefund(OrganizationOwned, Timestamps, Base):
    """A refund staff asked for, sent to Stripe by the worker.

    The ledger's refund row is written when Stripe says the refund succeeded
    (keyed by Stripe's refund id), not when it is asked for.
    """

    __tablename__ = "stripe_refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(
            "status IN ('requested', 'pending', 'succeeded', 'failed', 'canceled')",
            name="status",
        ),
        Index(
            "uq_stripe_refunds_stripe_refund_id",
            "stripe_refund_id",
            unique=True,
            postgresql_where=text("stripe_refund_id IS NOT NULL"),
        ),
        Index("ix_stripe_refunds_online_payment_id", "online_payment_id"),
    )

    online_payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("online_payments.id")
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), server_default="requested")
    stripe_refund_id: Mapped[str | None] = mapped_column(String(64))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    failure_message: Mapped[str | None] = mapped_column(String(500))


class StripeDispute(OrganizationOwned, Timestamps, Base):
    """A dispute of an online payment, and the money moved between the
    platform and the organization because of it.

    Stripe takes a disputed destination charge's money from the platform, so
    the worker takes it back from the organization's account by reversing
    the charge's transfer (``transfer_reversal_id``), and pays it out again
    by a new transfer (``return_transfer_id``) when the dispute is won. The
    ledger's side of a dispute is keyed rows, not this table.
    """

    __tablename__ = "stripe_disputes"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("reversed_amount >= 0", name="reversed_amount"),
        Index("uq_stripe_disputes_stripe_dispute_id", "stripe_dispute_id", unique=True),
        Index("ix_stripe_disputes_online_payment_id", "online_payment_id"),
    )

    online_payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("online_payments.id")
    )
    stripe_dispute_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    transfer_reversal_id: Mapped[str | None] = mapped_column(String(64))
    reversed_amount: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    return_transfer_id: Mapped[str | None] = mapped_column(String(64))


class StripeEvent(Base):
    """One Stripe event, stored once by its id before anything is done with it."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index(
            "ix_stripe_events_unprocessed",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    account: Mapped[str | None] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(server_default=text("false"))
    stripe_created_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
    source: Mapped[str] = mapped_column(String(16), server_default="webhook")
    """``webhook``, or ``reconciliation`` for an event the webhook missed."""
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))


class StripeCheckpoint(Base):
    """How far reconciliation has compared Stripe's view with ours."""

    __tablename__ = "stripe_checkpoints"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    reached_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
