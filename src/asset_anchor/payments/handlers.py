"""What each kind of Stripe event does. Importing this module registers them.

Every handler refetches the object the event is about and applies Stripe's
current state, so an event that arrives late never undoes a newer one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient, StripeError
from asset_anchor.payments.events import handles
from asset_anchor.payments.service import apply_payment_intent


@handles(
    "payment_intent.succeeded",
    "payment_intent.processing",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
)
async def payment_intent_changed(
    session: AsyncSession, stripe: StripeClient, event: dict[str, Any]
) -> str:
    intent_id = str(event["data"]["object"]["id"])
    try:
        intent = await stripe.retrieve_payment_intent(intent_id)
    except StripeError as error:
        if error.not_found:
            return "payment intent not found at Stripe"
        raise
    return await apply_payment_intent(session, intent)
