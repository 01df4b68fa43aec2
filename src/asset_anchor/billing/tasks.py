"""The worker's billing crons: rent, late fees, reminders, statements.

Each runs hourly on a UTC schedule (``cron_jobs``) and works in every
property's own date, so each timezone is served within the hour after its
midnight. A run walks the leases in windows by id, one transaction per
window: a window's statement stays far inside the statement timeout, and a
payment waiting on a lease the window holds waits for one window only.
Emails queued in a window are handed to the queue after its commit.

A cron run stops starting windows once half the job timeout has gone.
Windows with nothing left to do are cheap (every write is keyed, every email
claimed), so the next run gets past them quickly to where this one stopped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar

from arq.cron import CronJob, cron
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import mailings, schedule
from asset_anchor.billing.schedule import LeaseWindow, Written
from asset_anchor.jobs.context import job_session
from asset_anchor.jobs.outbox import dispatch_pending
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.settings import Settings

log = get_logger(__name__)

WINDOW_SIZE = 5_000
# Reminders and statements do Python work per lease (a claim and an email per
# tenant, about 2 ms), so their windows are smaller: a busy window commits
# within a few seconds, and an idle run still needs only some 50 statements
# for 100,000 leases.
MAILING_WINDOW_SIZE = 2_000
NOT_DRAFT = ("active", "ended", "terminated")

T = TypeVar("T")
Step = Callable[[AsyncSession, LeaseWindow], Awaitable[T]]


async def each_window(
    ctx: dict[str, Any],
    step: Step[T],
    *,
    size: int,
    statuses: tuple[str, ...] = ("active",),
    budget_seconds: float | None = None,
) -> tuple[list[T], bool]:
    """Run ``step`` on every window of leases, each in its own transaction;
    return its results and whether the last window was reached."""
    settings: Settings = ctx["settings"]
    started = time.monotonic()
    results: list[T] = []
    after = None
    while budget_seconds is None or time.monotonic() - started < budget_seconds:
        async with job_session(ctx) as session:
            window = await schedule.next_window(
                session, after, size=size, statuses=statuses
            )
            if window is None:
                return results, True
            results.append(await step(session, window))
        await dispatch_pending(session, ctx.get("redis"), settings)
        after = window.upto
    return results, False


def _budget(ctx: dict[str, Any]) -> float:
    settings: Settings = ctx["settings"]
    return settings.worker_job_timeout_seconds / 2


async def rent_run(
    ctx: dict[str, Any],
    *,
    now: datetime,
    on: date | None = None,
    budget_seconds: float | None = None,
) -> tuple[Written, bool]:
    """Charge the rent due at ``now`` (or with ``on`` as every property's
    today), window by window."""

    async def step(session: AsyncSession, window: LeaseWindow) -> Written:
        return await schedule.charge_rent(session, now=now, on=on, window=window)

    results, finished = await each_window(
        ctx, step, size=WINDOW_SIZE, budget_seconds=budget_seconds
    )
    return sum(results, Written()), finished


async def generate_rent(ctx: dict[str, Any]) -> int:
    """Create the rent charges due by now; return how many."""
    written, finished = await rent_run(ctx, now=utc_now(), budget_seconds=_budget(ctx))
    log.info(
        "billing.rent_generated",
        charges=written.entries,
        leases=written.leases,
        allocated_leases=written.allocated_leases,
        finished=finished,
    )
    return written.entries


async def charge_late_fees(ctx: dict[str, Any]) -> int:
    """Charge the late fees due by now; return how many."""
    now = utc_now()

    async def step(session: AsyncSession, window: LeaseWindow) -> Written:
        return await schedule.charge_late_fees(session, now=now, window=window)

    results, finished = await each_window(
        ctx, step, size=WINDOW_SIZE, budget_seconds=_budget(ctx)
    )
    written = sum(results, Written())
    log.info(
        "billing.late_fees_charged",
        fees=written.entries,
        leases=written.leases,
        allocated_leases=written.allocated_leases,
        finished=finished,
    )
    return written.entries


async def send_rent_reminders(ctx: dict[str, Any]) -> int:
    """Queue the rent reminders due now; return how many emails."""
    now = utc_now()

    async def step(session: AsyncSession, window: LeaseWindow) -> int:
        return await mailings.send_reminders(session, now=now, window=window)

    results, finished = await each_window(
        ctx, step, size=MAILING_WINDOW_SIZE, budget_seconds=_budget(ctx)
    )
    log.info("billing.reminders_queued", emails=sum(results), finished=finished)
    return sum(results)


async def send_statements(ctx: dict[str, Any]) -> int:
    """Queue the monthly statements due now; return how many emails."""
    now = utc_now()

    async def step(session: AsyncSession, window: LeaseWindow) -> int:
        return await mailings.send_statements(session, now=now, window=window)

    results, finished = await each_window(
        ctx,
        step,
        size=MAILING_WINDOW_SIZE,
        statuses=NOT_DRAFT,
        budget_seconds=_budget(ctx),
    )
    log.info("billing.statements_queued", emails=sum(results), finished=finished)
    return sum(results)


def cron_jobs(settings: Settings) -> list[CronJob]:
    """The billing crons, hourly, ten minutes apart so that late fees see the
    hour's rent and reminders its late fees. The worker reads cron times in
    UTC; every job reckons in each property's own date."""
    jobs = (
        (generate_rent, "cron.billing.generate_rent", 3),
        (charge_late_fees, "cron.billing.charge_late_fees", 13),
        (send_rent_reminders, "cron.billing.send_rent_reminders", 23),
        (send_statements, "cron.billing.send_statements", 33),
    )
    return [
        cron(
            job,
            name=name,
            minute={minute},
            second=0,
            run_at_startup=False,
            unique=True,
            timeout=settings.worker_job_timeout_seconds,
        )
        for job, name, minute in jobs
    ]
