"""The worker's Stripe jobs."""

from __future__ import annotations

from asset_anchor.integrations.stripe import StripeError
from asset_anchor.jobs.context import JobContext
from asset_anchor.jobs.registry import job
from asset_anchor.payments import events
from asset_anchor.payments.access import stripe_for


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
