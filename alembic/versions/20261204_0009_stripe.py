"""online payments through Stripe: payments, refunds, event inbox, checkpoints; connect accounts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_checkpoints",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stripe_checkpoints")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=True),
        sa.Column(
            "livemode", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("stripe_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "source", sa.String(length=16), server_default="webhook", nullable=False
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_index(
        "ix_stripe_events_unprocessed",
        "stripe_events",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "online_payments",
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("payer_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default="pending", nullable=False
        ),
        sa.Column(
            "application_fee_amount",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("stripe_payment_intent_id", sa.String(length=64), nullable=True),
        sa.Column("ledger_entry_id", sa.Uuid(), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "method IN ('card', 'us_bank_account')",
            name=op.f("ck_online_payments_method"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_online_payments_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_online_payments_amount")),
        sa.ForeignKeyConstraint(
            ["lease_id"], ["leases.id"], name=op.f("fk_online_payments_lease_id_leases")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_online_payments_ledger_entry_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_online_payments_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payer_id"],
            ["users.id"],
            name=op.f("fk_online_payments_payer_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_payments")),
    )
    op.create_index(
        "ix_online_payments_lease_id", "online_payments", ["lease_id"], unique=False
    )
    op.create_index(
        "ix_online_payments_open",
        "online_payments",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.create_index(
        "uq_online_payments_stripe_payment_intent_id",
        "online_payments",
        ["stripe_payment_intent_id"],
        unique=True,
        postgresql_where=sa.text("stripe_payment_intent_id IS NOT NULL"),
    )
    op.create_table(
        "stripe_refunds",
        sa.Column("online_payment_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default="requested", nullable=False
        ),
        sa.Column("stripe_refund_id", sa.String(length=64), nullable=True),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'pending', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_stripe_refunds_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_stripe_refunds_amount")),
        sa.ForeignKeyConstraint(
            ["online_payment_id"],
            ["online_payments.id"],
            name=op.f("fk_stripe_refunds_online_payment_id_online_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_refunds_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_stripe_refunds_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_refunds")),
    )
    op.create_index(
        "ix_stripe_refunds_online_payment_id",
        "stripe_refunds",
        ["online_payment_id"],
        unique=False,
    )
    op.create_index(
        "uq_stripe_refunds_stripe_refund_id",
        "stripe_refunds",
        ["stripe_refund_id"],
        unique=True,
        postgresql_where=sa.text("stripe_refund_id IS NOT NULL"),
    )
    op.add_column(
        "ledger_entries", sa.Column("external_id", sa.String(length=100), nullable=True)
    )
    op.create_index(
        "uq_ledger_entries_external_id",
        "ledger_entries",
        ["external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.add_column(
        "organizations",
        sa.Column("stripe_account_id", sa.String(length=64), nullable=True),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "stripe_charges_enabled",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "stripe_payouts_enabled",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "stripe_details_submitted",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )
    op.add_column(
        "organizations",
        sa.Column("stripe_account_seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "organizations",
        sa.Column("stripe_disconnected_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "platform_fee_bps",
            sa.SmallInteger(),
            server_default=sa.text("0"),
            nullable=False,
        ),
    )
    op.create_index(
        "uq_organizations_stripe_account_id",
        "organizations",
        ["stripe_account_id"],
        unique=True,
        postgresql_where=sa.text("stripe_account_id IS NOT NULL"),
    )
    op.create_check_constraint(
        op.f("ck_organizations_platform_fee_bps"),
        "organizations",
        "platform_fee_bps BETWEEN 0 AND 10000",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_organizations_platform_fee_bps"), "organizations")
    op.drop_index(
        "uq_organizations_stripe_account_id",
        table_name="organizations",
        postgresql_where=sa.text("stripe_account_id IS NOT NULL"),
    )
    op.drop_column("organizations", "platform_fee_bps")
    op.drop_column("organizations", "stripe_disconnected_at")
    op.drop_column("organizations", "stripe_account_seen_at")
    op.drop_column("organizations", "stripe_details_submitted")
    op.drop_column("organizations", "stripe_payouts_enabled")
    op.drop_column("organizations", "stripe_charges_enabled")
    op.drop_column("organizations", "stripe_account_id")
    op.drop_index(
        "uq_ledger_entries_external_id",
        table_name="ledger_entries",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_column("ledger_entries", "external_id")
    op.drop_index(
        "uq_stripe_refunds_stripe_refund_id",
        table_name="stripe_refunds",
        postgresql_where=sa.text("stripe_refund_id IS NOT NULL"),
    )
    op.drop_index("ix_stripe_refunds_online_payment_id", table_name="stripe_refunds")
    op.drop_table("stripe_refunds")
    op.drop_index(
        "uq_online_payments_stripe_payment_intent_id",
        table_name="online_payments",
        postgresql_where=sa.text("stripe_payment_intent_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_online_payments_open",
        table_name="online_payments",
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.drop_index("ix_online_payments_lease_id", table_name="online_payments")
    op.drop_table("online_payments")
    op.drop_index(
        "ix_stripe_events_unprocessed",
        table_name="stripe_events",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.drop_table("stripe_events")
    op.drop_table("stripe_checkpoints")
