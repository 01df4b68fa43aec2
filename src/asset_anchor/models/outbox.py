"""The durable outbox: work to do after a transaction commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from asset_anchor.models.base import Base, CreatedAt


class OutboxJob(CreatedAt, Base):
    """One piece of background work, written in the transaction that asked for it.

    A row is pending until ``completed_at`` or ``dead_at`` is set. The worker
    runs the job and records its completion in the same transaction as the
    job's own database effects. Arguments are JSON: ids and plain values, never
    objects.
    """

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        # The sweep's question: which pending rows are due?
        Index(
            "ix_outbox_jobs_pending_run_after",
            "run_after",
            postgresql_where=text("completed_at IS NULL AND dead_at IS NULL"),
        ),
        Index(
            "ix_outbox_jobs_completed_at",
            "completed_at",
            postgresql_where=text("completed_at IS NOT NULL"),
        ),
        Index(
            "ix_outbox_jobs_dead_at",
            "dead_at",
            postgresql_where=text("dead_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    job_name: Mapped[str] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128))
    run_after: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    max_tries: Mapped[int | None] = mapped_column(SmallInteger)
    """The job's own limit; None means the deployment's JOB_MAX_TRIES."""
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
