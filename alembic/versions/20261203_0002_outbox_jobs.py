"""outbox jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = "completed_at IS NULL AND dead_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "outbox_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_name", sa.String(length=100), nullable=False),
        sa.Column("arguments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("max_tries", sa.SmallInteger(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_jobs")),
    )
    op.create_index(
        "ix_outbox_jobs_pending_run_after",
        "outbox_jobs",
        ["run_after"],
        postgresql_where=sa.text(_PENDING),
    )
    op.create_index(
        "ix_outbox_jobs_completed_at",
        "outbox_jobs",
        ["completed_at"],
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )
    op.create_index(
        "ix_outbox_jobs_dead_at",
        "outbox_jobs",
        ["dead_at"],
        postgresql_where=sa.text("dead_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_jobs_dead_at", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_completed_at", table_name="outbox_jobs")
    op.drop_index("ix_outbox_jobs_pending_run_after", table_name="outbox_jobs")
    op.drop_table("outbox_jobs")
