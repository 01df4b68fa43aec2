"""pending registrations; one session per MFA challenge

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_registrations",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_normalized", sa.String(length=320), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("organization_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("client_address", postgresql.INET(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_registrations")),
    )
    op.add_column(
        "auth_sessions",
        sa.Column("mfa_challenge_id", sa.String(length=32), nullable=True),
    )
    op.create_index(
        "uq_auth_sessions_mfa_challenge_id",
        "auth_sessions",
        ["mfa_challenge_id"],
        unique=True,
        postgresql_where=sa.text("mfa_challenge_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_auth_sessions_mfa_challenge_id",
        table_name="auth_sessions",
        postgresql_where=sa.text("mfa_challenge_id IS NOT NULL"),
    )
    op.drop_column("auth_sessions", "mfa_challenge_id")
    op.drop_table("pending_registrations")
