"""The worker's own cron jobs for the outbox: sweep and prune."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from asset_anchor.jobs.context import job_session
from asset_anchor.jobs.outbox import hand_over
from asset_anchor.jobs.service import PRUNE_BATCH_SIZE, due_job_ids, prune_completed
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.settings import Settings

log = get_logger(__name__)

# A row younger than this was probably just handed over by its own commit;
# leave it to that hand-over rather than race it.
SWEEP_GRACE = timedelta(seconds=5)
MAX_PRUNE_BATCHES = 50


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Hand over pending rows that arq does not hold; return how many went.

    Catches rows never handed over (Redis was down at commit, the process died
    right after it) and rows whose arq job vanished. A row arq still holds
    (queued, deferred or running) is refused by arq's job id and left alone.
    """
    settings: Settings = ctx["settings"]
    queue: ArqRedis = ctx["redis"]
    async with job_session(ctx) as session:
        due = await due_job_ids(session, due_before=utc_now() - SWEEP_GRACE)
    handed = 0
    for outbox_id, run_after in due:
        try:
            if await hand_over(queue, settings, outbox_id, run_after):
                handed += 1
        except (RedisError, OSError) as error:
            log.warning("outbox.sweep_interrupted", error_type=type(error).__name__)
            break
    if handed:
        log.info("outbox.swept", handed_over=handed, due=len(due))
    return handed


async def prune_outbox(ctx: dict[str, Any]) -> int:
    """Delete completed rows older than ``OUTBOX_RETENTION_DAYS``."""
    settings: Settings = ctx["settings"]
    cutoff = utc_now() - timedelta(days=settings.outbox_retention_days)
    total = 0
    for _ in range(MAX_PRUNE_BATCHES):
        async with job_session(ctx) as session:
            deleted = await prune_completed(session, completed_before=cutoff)
        total += deleted
        if deleted < PRUNE_BATCH_SIZE:
            break
    log.info("outbox.pruned", deleted=total)
    return total
