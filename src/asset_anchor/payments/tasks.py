"""The worker's Stripe jobs, and the reconciliation cron."""

from __future__ import annotations

import uuid
from typing import Any

from arq.cron import CronJob, cron

from asset_anchor.integrations.stripe import StripeError
from asset_anchor.jobs.context import JobContext
from asset_anchor.jobs.registry import job
from asset_anchor.logging import get_logger
from asset_anchor.payments import disputes, events, reconcile, refunds
from asset_anchor.payments.access import stripe_for
from asset_anchor.settings import Settings

log = get_logger(__name__)


@job("stripe.process_event", max_tries=20)
async def process_event(ctx: JobContext, event_id: str) -> None:
    """Handle one stored Stripe event, once (see ``payments.events``).

    Stripe's outages and rate limits retry with backoff; its refusals end as a
    dead job with the reason, replayable once the cause is fixed.
    """
    stripe = stripe_for(ctx.settings, ctx.http)
    try:
        await events.process(ctx.session, stripe, event_id)
    except StripeError as error:
        raise error.to_job_error() from error


@job("stripe.create_refund", max_tries=20)
async def create_refund(ctx: JobContext, refund_id: str) -> None:
    """Send a refund staff asked for to Stripe (see ``payments.refunds``).

    Stripe's outages retry with the same idempotency key, so Stripe makes one
    refund however often this runs; its refusal fails the refund request with
    Stripe's reason and ends the job.
    """
    stripe = stripe_for(ctx.settings, ctx.http)
    try:
        outcome = await refunds.send(
            ctx.session,
            stripe,
            ctx.settings,
            uuid.UUID(refund_id),
            retried=ctx.attempt > 1,
        )
    except StripeError as error:
        raise error.to_job_error() from error
    log.info("refund.sent", refund_id=refund_id, outcome=outcome)


@job("stripe.dispute_money", max_tries=20)
async def dispute_money(ctx: JobContext, dispute_id: str) -> None:
    """Move a disputed payment's money between the platform and the
    organization as the dispute now stands (see ``payments.disputes``)."""
    stripe = stripe_for(ctx.settings, ctx.http)
    try:
        outcome = await disputes.move_money(
            ctx.session, stripe, ctx.settings, dispute_id
        )
    except StripeError as error:
        raise error.to_job_error() from error
    log.info("dispute.money_moved", dispute=dispute_id, outcome=outcome)


async def reconcile_stripe(ctx: dict[str, Any]) -> int:
    """Repair what Stripe's webhooks missed (see ``payments.reconcile``);
    return how many repairs were made."""
    settings: Settings = ctx["settings"]
    if not settings.payments_enabled:
        return 0
    stripe = stripe_for(settings, ctx["http"])
    report = await reconcile.reconcile(
        ctx, stripe, budget_seconds=settings.worker_job_timeout_seconds / 2
    )
    return (
        len(report.events_stored)
        + len(report.payments_repaired)
        + len(report.accounts_repaired)
    )


def cron_jobs(settings: Settings) -> list[CronJob]:
    """Reconciliation every ``STRIPE_RECONCILE_INTERVAL_MINUTES`` from six
    minutes past the hour (UTC): every 15 minutes is :06, :21, :36 and :51,
    beside the billing and maintenance crons rather than on them."""
    every = settings.stripe_reconcile_interval_minutes
    return [
        cron(
            reconcile_stripe,
            name="cron.stripe.reconcile",
            minute=set(range(6 % every, 60, every)),
            second=0,
            run_at_startup=False,
            unique=True,
            timeout=settings.worker_job_timeout_seconds,
        )
    ]
