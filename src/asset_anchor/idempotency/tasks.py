"""Worker jobs of the idempotency store."""

from __future__ import annotations

from typing import Any

from asset_anchor.idempotency.service import PRUNE_BATCH_SIZE, prune_expired
from asset_anchor.jobs.context import job_session
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger

log = get_logger(__name__)

# A single run stops after this many batches so that a huge backlog is worked
# off over several runs instead of one job that outlives its timeout.
MAX_BATCHES_PER_RUN = 50


async def prune_idempotency_keys(ctx: dict[str, Any]) -> int:
    """Delete idempotency keys past their retention window."""
    total = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        async with job_session(ctx) as session:
            deleted = await prune_expired(session, now=utc_now())
        total += deleted
        if deleted < PRUNE_BATCH_SIZE:
            break
    log.info("idempotency.pruned", deleted=total)
    return total
