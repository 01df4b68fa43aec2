"""stripe disputes: the money a dispute moves between the platform and an organization

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_disputes",
        sa.Column("online_payment_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_dispute_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("transfer_reversal_id", sa.String(length=64), nullable=True),
        sa.Column(
            "reversed_amount",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("return_transfer_id", sa.String(length=64), nullable=True),
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
        sa.CheckConstraint("amount > 0", name=op.f("ck_stripe_disputes_amount")),
        sa.CheckConstraint(
            "reversed_amount >= 0", name=op.f("ck_stripe_disputes_reversed_amount")
        ),
        sa.ForeignKeyConstraint(
            ["online_payment_id"],
            ["online_payments.id"],
            name=op.f("fk_stripe_disputes_online_payment_id_online_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_disputes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_disputes")),
    )
    op.create_index(
        "ix_stripe_disputes_online_payment_id",
        "stripe_disputes",
        ["online_payment_id"],
        unique=False,
    )
    op.create_index(
        "uq_stripe_disputes_stripe_dispute_id",
        "stripe_disputes",
        ["stripe_dispute_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_stripe_disputes_stripe_dispute_id", table_name="stripe_disputes")
    op.drop_index("ix_stripe_disputes_online_payment_id", table_name="stripe_disputes")
    op.drop_table("stripe_disputes")
