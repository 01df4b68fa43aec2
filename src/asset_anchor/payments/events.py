"""Stripe's events: stored once (the inbox), then handled by the worker.

``store`` writes an event by its id and queues ``stripe.process_event`` in the
same transaction, or does nothing when the id is known: Stripe sends events
more than once, and the reconciliation job may find one the webhook already
brought. ``process`` handles a stored event once: it locks the row, skips it
if handled, runs the handler for its type and marks it handled in the same
transaction as the handler's own writes.

Handlers never trust the event's copy of an object, which may be older than
what Stripe holds now: they fetch the object again (or compare its state) and
bring ours to match, so events handled in any order end in Stripe's final
state. A handler is registered for each type with ``@handles``; a type with
none is stored, acknowledged and marked ``ignored``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient
from asset_anchor.jobs.outbox import enqueue
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.models import StripeEvent

log = get_logger(__name__)

Handler = Callable[[AsyncSession, StripeClient, dict[str, Any]], Awaitable[str]]
"""``async def handler(session, stripe, event) -> outcome`` (a short sentence)."""

_HANDLERS: dict[str, Handler] = {}


def handles(*types: str) -> Callable[[Handler], Handler]:
    """Register a handler for the event types given."""

    def register(handler: Handler) -> Handler:
        for event_type in types:
            if event_type in _HANDLERS and _HANDLERS[event_type] is not handler:
                raise ValueError(f"{event_type} has a handler already")
            _HANDLERS[event_type] = handler
        return handler

    return register


def handler_for(event_type: str) -> Handler | None:
    _load_handlers()
    return _HANDLERS.get(event_type)


def _load_handlers() -> None:
    # The modules whose import registers handlers with @handles.
    import asset_anchor.payments.handlers  # noqa: F401


def is_event(payload: Any) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("id"), str)
        and payload["id"].startswith("evt_")
        and isinstance(payload.get("type"), str)
        and isinstance(payload.get("created"), int)
        and isinstance(payload.get("data"), dict)
        and isinstance(payload["data"].get("object"), dict)
    )


def _kept(event: dict[str, Any]) -> dict[str, Any]:
    """The event as stored: a PaymentIntent's client secret (which lets its
    holder confirm the payment) is left out; handlers refetch the object."""
    about = event["data"]["object"]
    if "client_secret" not in about:
        return event
    return {
        **event,
        "data": {**event["data"], "object": {**about, "client_secret": None}},
    }


async def store(
    session: AsyncSession, event: dict[str, Any], *, source: str = "webhook"
) -> bool:
    """Keep a new event and queue its handling; False when it was known."""
    stored = await session.scalar(
        insert(StripeEvent)
        .values(
            id=event["id"],
            type=event["type"],
            account=event.get("account"),
            livemode=bool(event.get("livemode")),
            stripe_created_at=datetime.fromtimestamp(event["created"], tz=UTC),
            payload=_kept(event),
            source=source,
        )
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    if stored is None:
        return False
    enqueue(session, "stripe.process_event", event_id=event["id"])
    log.info("stripe.event_received", event_id=event["id"], type=event["type"])
    return True


async def process(session: AsyncSession, stripe: StripeClient, event_id: str) -> str:
    """Handle a stored event once; say what was done."""
    event = await session.scalar(
        select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
    )
    if event is None:
        return "unknown event"
    if event.processed_at is not None:
        return event.outcome or "handled already"
    handler = handler_for(event.type)
    outcome = (
        "ignored" if handler is None else await handler(session, stripe, event.payload)
    )
    event.processed_at = utc_now()
    event.outcome = outcome[:200]
    log.info(
        "stripe.event_handled", event_id=event.id, type=event.type, outcome=outcome
    )
    return outcome
