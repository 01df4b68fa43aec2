"""Job handlers that exist only for the tests, registered like real ones."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from asset_anchor.jobs.context import JobContext
from asset_anchor.jobs.errors import PermanentJobError, TransientJobError
from asset_anchor.jobs.outbox import enqueue
from asset_anchor.jobs.registry import job
from asset_anchor.kit.time import utc_now
from asset_anchor.models import IdempotencyKey

EFFECT_SCOPE = "job-effect"
calls: Counter[str] = Counter()


def effect(ctx: JobContext, marker: str) -> None:
    """A database write of the job's own, to see it commit or roll back."""
    ctx.session.add(
        IdempotencyKey(
            scope=EFFECT_SCOPE,
            key=f"{marker}:{ctx.attempt}",
            request_fingerprint="e" * 64,
            expires_at=utc_now() + timedelta(hours=1),
        )
    )


@job("test.record")
async def record(ctx: JobContext, marker: str) -> None:
    calls[marker] += 1
    effect(ctx, marker)


@job("test.flaky")
async def flaky(ctx: JobContext, marker: str, fail_times: int) -> None:
    calls[marker] += 1
    effect(ctx, marker)
    if calls[marker] <= fail_times:
        raise TransientJobError("provider answered 503", retry_after_seconds=None)


@job("test.refused")
async def refused(ctx: JobContext, marker: str) -> None:
    calls[marker] += 1
    effect(ctx, marker)
    raise PermanentJobError("provider answered 422: inactive recipient")


@job("test.buggy", max_tries=2)
async def buggy(ctx: JobContext, marker: str) -> None:
    calls[marker] += 1
    raise RuntimeError("a bug")


@job("test.chain")
async def chain(ctx: JobContext, marker: str) -> None:
    calls[marker] += 1
    enqueue(ctx.session, "test.record", marker=f"{marker}:next")
