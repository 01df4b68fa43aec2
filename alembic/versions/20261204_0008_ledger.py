"""rent ledger: entries, allocations, billing notices; billing settings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_notices",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("occasion", sa.String(length=100), nullable=False),
        sa.Column("email_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["leases.id"],
            name=op.f("fk_billing_notices_lease_id_leases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_billing_notices_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_notices")),
    )
    op.create_index(
        "uq_billing_notices_occasion",
        "billing_notices",
        ["lease_id", "recipient", "occasion"],
        unique=True,
    )
    op.create_table(
        "ledger_entries",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("entry_type", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "balance_effect",
            sa.BigInteger(),
            sa.Computed(
                "CASE WHEN entry_type IN ('charge', 'refund') THEN amount ELSE -amount END * CASE WHEN reverses_id IS NULL THEN 1 ELSE -1 END",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("rent_period", sa.Date(), nullable=True),
        sa.Column("source_entry_id", sa.Uuid(), nullable=True),
        sa.Column("fee_key", sa.String(length=16), nullable=True),
        sa.Column("reverses_id", sa.Uuid(), nullable=True),
        sa.Column("method", sa.String(length=24), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(category = 'rent' AND entry_type = 'charge') = (rent_period IS NOT NULL)",
            name=op.f("ck_ledger_entries_rent_period"),
        ),
        sa.CheckConstraint(
            "entry_type <> 'charge' OR category IN ('rent', 'late_fee', 'deposit', 'deposit_deduction', 'other')",
            name=op.f("ck_ledger_entries_charge_category"),
        ),
        sa.CheckConstraint(
            "entry_type <> 'credit' OR category IN ('concession', 'waiver', 'deposit_release', 'other')",
            name=op.f("ck_ledger_entries_credit_category"),
        ),
        sa.CheckConstraint(
            "entry_type IN ('charge', 'credit', 'payment', 'refund')",
            name=op.f("ck_ledger_entries_entry_type"),
        ),
        sa.CheckConstraint(
            "entry_type NOT IN ('payment', 'refund') OR method IS NOT NULL",
            name=op.f("ck_ledger_entries_method"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_entries_amount")),
        sa.CheckConstraint(
            "reverses_id IS NULL OR reason IS NOT NULL",
            name=op.f("ck_ledger_entries_reversal_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_ledger_entries_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["leases.id"],
            name=op.f("fk_ledger_entries_lease_id_leases"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ledger_entries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_entries_reverses_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["source_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_entries_source_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_lease_id_effective_on",
        "ledger_entries",
        ["lease_id", "effective_on", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_entries_organization_id_effective_on",
        "ledger_entries",
        ["organization_id", "effective_on"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_entries_source_entry_id",
        "ledger_entries",
        ["source_entry_id"],
        unique=False,
        postgresql_where=sa.text("source_entry_id IS NOT NULL"),
    )
    op.create_index(
        "uq_ledger_entries_late_fee",
        "ledger_entries",
        ["source_entry_id", "fee_key"],
        unique=True,
        postgresql_where=sa.text(
            "category = 'late_fee' AND entry_type = 'charge' AND reverses_id IS NULL"
        ),
    )
    op.create_index(
        "uq_ledger_entries_rent_period",
        "ledger_entries",
        ["lease_id", "rent_period"],
        unique=True,
        postgresql_where=sa.text("rent_period IS NOT NULL AND reverses_id IS NULL"),
    )
    op.create_index(
        "uq_ledger_entries_reverses_id",
        "ledger_entries",
        ["reverses_id"],
        unique=True,
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.create_table(
        "allocations",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("funding_id", sa.Uuid(), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_allocations_amount")),
        sa.ForeignKeyConstraint(
            ["charge_id"],
            ["ledger_entries.id"],
            name=op.f("fk_allocations_charge_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["funding_id"],
            ["ledger_entries.id"],
            name=op.f("fk_allocations_funding_id_ledger_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["leases.id"],
            name=op.f("fk_allocations_lease_id_leases"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_allocations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    op.create_index(
        "ix_allocations_charge_id", "allocations", ["charge_id"], unique=False
    )
    op.create_index(
        "ix_allocations_funding_id", "allocations", ["funding_id"], unique=False
    )
    op.create_index(
        "ix_allocations_lease_id", "allocations", ["lease_id"], unique=False
    )
    op.add_column(
        "organizations",
        sa.Column(
            "rent_charge_days_ahead",
            sa.SmallInteger(),
            server_default=sa.text("7"),
            nullable=False,
        ),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "rent_reminder_days_before",
            sa.SmallInteger(),
            server_default=sa.text("3"),
            nullable=False,
        ),
    )
    op.create_check_constraint(
        op.f("ck_organizations_rent_charge_days_ahead"),
        "organizations",
        "rent_charge_days_ahead BETWEEN 0 AND 60",
    )
    op.create_check_constraint(
        op.f("ck_organizations_rent_reminder_days_before"),
        "organizations",
        "rent_reminder_days_before BETWEEN 0 AND 30",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_organizations_rent_reminder_days_before"), "organizations"
    )
    op.drop_constraint(op.f("ck_organizations_rent_charge_days_ahead"), "organizations")
    op.drop_column("organizations", "rent_reminder_days_before")
    op.drop_column("organizations", "rent_charge_days_ahead")
    op.drop_index("ix_allocations_lease_id", table_name="allocations")
    op.drop_index("ix_allocations_funding_id", table_name="allocations")
    op.drop_index("ix_allocations_charge_id", table_name="allocations")
    op.drop_table("allocations")
    op.drop_index(
        "uq_ledger_entries_reverses_id",
        table_name="ledger_entries",
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
    )
    op.drop_index(
        "uq_ledger_entries_rent_period",
        table_name="ledger_entries",
        postgresql_where=sa.text("rent_period IS NOT NULL AND reverses_id IS NULL"),
    )
    op.drop_index(
        "uq_ledger_entries_late_fee",
        table_name="ledger_entries",
        postgresql_where=sa.text(
            "category = 'late_fee' AND entry_type = 'charge' AND reverses_id IS NULL"
        ),
    )
    op.drop_index(
        "ix_ledger_entries_source_entry_id",
        table_name="ledger_entries",
        postgresql_where=sa.text("source_entry_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_ledger_entries_organization_id_effective_on", table_name="ledger_entries"
    )
    op.drop_index(
        "ix_ledger_entries_lease_id_effective_on", table_name="ledger_entries"
    )
    op.drop_table("ledger_entries")
    op.drop_index("uq_billing_notices_occasion", table_name="billing_notices")
    op.drop_table("billing_notices")
