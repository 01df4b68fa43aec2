"""Reconciliation: Stripe's view compared with ours, and what webhooks missed.

A run does two things, each repair logged:

1. **Events.** It lists Stripe's events since the checkpoint (less an overlap,
   for events that became visible late), newest first, page by page, and
   stores each one we do not hold (``events.store`` with source
   ``reconciliation``), which queues its handling as if the webhook had
   brought it. An event we hold changes nothing, so a run repeated, or two
   runs at once, store each missed event once; its handling is once by the
   inbox, and every handler's writes are keyed. Events younger than
   ``GRACE`` are left to the webhook, which is usually seconds behind; the
   overlap brings them to the next run.
2. **Payments.** Each online payment still pending or processing that has
   not changed for a few minutes has its PaymentIntent fetched and applied
   (``service.apply_to``), which catches a success or failure whose event
   was lost in a way the first step cannot see. Payments are looked at the
   longest-unchanged first, a bounded number per run; one found unchanged is
   marked looked-at, so the others get their turn.
3. **Accounts.** Connect events (``account.updated``) belong to the
   connected accounts, not to the platform's event list, so each connected
   organization still waiting for Stripe (charges or payouts not enabled)
   has its account fetched and applied, as ``account.updated`` would.

The checkpoint then moves to the run's start, never back. Stripe lists
events of the last 30 days only: a checkpoint (or ``--since``) older than
that starts at the 30 days' edge, and the run says so.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from asset_anchor.integrations.stripe import StripeClient, StripeError, pages
from asset_anchor.jobs.context import job_session
from asset_anchor.jobs.outbox import dispatch_pending
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.models import (
    OnlinePayment,
    Organization,
    StripeCheckpoint,
    StripeEvent,
)
from asset_anchor.payments import connect, events
from asset_anchor.payments.service import apply_to, status_of
from asset_anchor.settings import Settings

log = get_logger(__name__)

CHECKPOINT = "events"
OVERLAP = timedelta(minutes=5)
GRACE = timedelta(minutes=2)
FIRST_LOOK_BACK = timedelta(days=3)
STRIPE_KEEPS = timedelta(days=30)
STALE_AFTER = timedelta(minutes=5)
# A payment left pending this long was abandoned at Stripe's checkout; the
# webhook still brings it if the tenant comes back.
OPEN_FOR_AT_MOST = timedelta(days=30)
PAYMENTS_PER_RUN = 100
ACCOUNTS_PER_RUN = 100
PAGE_SIZE = 100


@dataclass
class Reconciled:
    """What one run compared and repaired."""

    since: datetime
    until: datetime
    clamped: bool = False
    events_seen: int = 0
    events_stored: list[tuple[str, str]] = field(default_factory=list)
    """(event id, type) of each missed event stored and queued."""
    payments_checked: int = 0
    payments_repaired: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """(payment id, what changed) of each payment brought up to date."""
    accounts_checked: int = 0
    accounts_repaired: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    """(organization id, what changed) of each account brought up to date."""
    finished: bool = True
    """False when the time budget ran out with open payments left to check."""


async def reconcile(
    ctx: dict[str, Any],
    stripe: StripeClient,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    budget_seconds: float | None = None,
) -> Reconciled:
    """One run: from ``since`` (default: the checkpoint, less the overlap).
    Payments stop being checked once ``budget_seconds`` have gone.

    ``ctx`` holds the worker's ``settings``, ``sessionmaker`` and (to hand
    queued jobs over at once) ``redis``; each step commits on its own.
    """
    now = now or utc_now()
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    start = since or await _from_checkpoint(ctx, now)
    edge = now - STRIPE_KEEPS + timedelta(minutes=1)
    report = Reconciled(since=max(start, edge), until=now - GRACE)
    report.clamped = start < edge
    if report.clamped:
        log.warning(
            "stripe.reconcile_window_clamped",
            asked=start.isoformat(),
            since=report.since.isoformat(),
        )
    await _store_missed_events(ctx, stripe, report)
    await _refresh_open_payments(ctx, stripe, report, now, deadline)
    await _refresh_waiting_accounts(ctx, stripe, report, now, deadline)
    await _move_checkpoint(ctx, report.until)
    log.info(
        "stripe.reconciled",
        since=report.since.isoformat(),
        events_seen=report.events_seen,
        events_stored=len(report.events_stored),
        payments_checked=report.payments_checked,
        payments_repaired=len(report.payments_repaired),
        accounts_checked=report.accounts_checked,
        accounts_repaired=len(report.accounts_repaired),
        finished=report.finished,
    )
    return report


async def _from_checkpoint(ctx: dict[str, Any], now: datetime) -> datetime:
    async with job_session(ctx) as session:
        reached = await session.scalar(
            select(StripeCheckpoint.reached_at).where(
                StripeCheckpoint.name == CHECKPOINT
            )
        )
    return reached - OVERLAP if reached is not None else now - FIRST_LOOK_BACK


async def _store_missed_events(
    ctx: dict[str, Any], stripe: StripeClient, report: Reconciled
) -> None:
    settings: Settings = ctx["settings"]
    latest = int(report.until.timestamp())
    async for page in pages(
        stripe.list_events, created_gte=int(report.since.timestamp()), limit=PAGE_SIZE
    ):
        listed = [e for e in page.get("data") or [] if events.is_event(e)]
        report.events_seen += len(listed)
        async with job_session(ctx) as session:
            known = set(
                await session.scalars(
                    select(StripeEvent.id).where(
                        StripeEvent.id.in_([e["id"] for e in listed])
                    )
                )
            )
            for event in listed:
                if event["id"] in known or event["created"] > latest:
                    continue
                if await events.store(session, event, source="reconciliation"):
                    report.events_stored.append((event["id"], event["type"]))
                    log.info(
                        "stripe.reconcile_event_stored",
                        event_id=event["id"],
                        type=event["type"],
                    )
        await dispatch_pending(session, ctx.get("redis"), settings)


async def _refresh_open_payments(
    ctx: dict[str, Any],
    stripe: StripeClient,
    report: Reconciled,
    now: datetime,
    deadline: float | None,
) -> None:
    settings: Settings = ctx["settings"]
    async with job_session(ctx) as session:
        waiting = list(
            await session.execute(
                select(OnlinePayment.id, OnlinePayment.stripe_payment_intent_id)
                .where(
                    OnlinePayment.status.in_(("pending", "processing")),
                    OnlinePayment.stripe_payment_intent_id.is_not(None),
                    OnlinePayment.updated_at < now - STALE_AFTER,
                    OnlinePayment.created_at > now - OPEN_FOR_AT_MOST,
                )
                .order_by(OnlinePayment.updated_at, OnlinePayment.id)
                .limit(PAYMENTS_PER_RUN)
            )
        )
    for payment_id, intent_id in waiting:
        if deadline is not None and time.monotonic() > deadline:
            report.finished = False
            return
        async with job_session(ctx) as session:
            # Locked before Stripe is asked, as the webhook's handler does:
            # the answer is then at least as new as anything applied before.
            payment = await session.get(OnlinePayment, payment_id, with_for_update=True)
            assert payment is not None
            try:
                intent = await stripe.retrieve_payment_intent(str(intent_id))
            except StripeError as error:
                if not error.not_found and not error.transient:
                    raise
                log.warning(
                    "stripe.reconcile_payment_unreadable",
                    payment_id=str(payment_id),
                    status=error.status,
                )
                continue
            report.payments_checked += 1
            if payment.status == status_of(intent):
                # Nothing to repair: it goes to the back of the line.
                await session.execute(
                    update(OnlinePayment)
                    .where(OnlinePayment.id == payment_id)
                    .values(updated_at=func.now())
                )
                continue
            outcome = await apply_to(session, payment, intent)
        await dispatch_pending(session, ctx.get("redis"), settings)
        report.payments_repaired.append((payment_id, outcome))
        log.info(
            "stripe.reconcile_payment_repaired",
            payment_id=str(payment_id),
            payment_intent=intent_id,
            outcome=outcome,
        )


async def _refresh_waiting_accounts(
    ctx: dict[str, Any],
    stripe: StripeClient,
    report: Reconciled,
    now: datetime,
    deadline: float | None,
) -> None:
    async with job_session(ctx) as session:
        waiting = list(
            await session.scalars(
                select(Organization.id)
                .where(
                    Organization.stripe_account_id.is_not(None),
                    Organization.stripe_disconnected_at.is_(None),
                    (Organization.stripe_charges_enabled.is_(False))
                    | (Organization.stripe_payouts_enabled.is_(False)),
                )
                .order_by(Organization.stripe_account_seen_at.nulls_first())
                .limit(ACCOUNTS_PER_RUN)
            )
        )
    for organization_id in waiting:
        if deadline is not None and time.monotonic() > deadline:
            report.finished = False
            return
        async with job_session(ctx) as session:
            organization = await session.get(
                Organization, organization_id, with_for_update=True
            )
            if (
                organization is None
                or organization.stripe_account_id is None
                or organization.stripe_disconnected_at is not None
            ):
                continue
            try:
                outcome = await connect.refresh_account(
                    session, stripe, organization, now
                )
            except StripeError as error:
                if not error.transient:
                    raise
                log.warning(
                    "stripe.reconcile_account_unreadable",
                    organization_id=str(organization_id),
                    status=error.status,
                )
                continue
        report.accounts_checked += 1
        if outcome not in (connect.UNCHANGED, connect.UNREACHABLE):
            report.accounts_repaired.append((organization_id, outcome))
            log.info(
                "stripe.reconcile_account_repaired",
                organization_id=str(organization_id),
                outcome=outcome,
            )


async def _move_checkpoint(ctx: dict[str, Any], reached: datetime) -> None:
    async with job_session(ctx) as session:
        statement = insert(StripeCheckpoint).values(
            name=CHECKPOINT, reached_at=reached, updated_at=func.now()
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[StripeCheckpoint.name],
                set_={
                    "reached_at": func.greatest(
                        StripeCheckpoint.reached_at, statement.excluded.reached_at
                    ),
                    "updated_at": func.now(),
                },
            )
        )
