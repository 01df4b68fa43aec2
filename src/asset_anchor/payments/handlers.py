"""What each kind of Stripe event does. Importing this module registers them.

Every handler refetches the object the event is about and applies Stripe's
current state, so an event that arrives late never undoes a newer one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.integrations.stripe import StripeClient, StripeError
from asset_anchor.payments import connect, disputes, refunds
from asset_anchor.payments.events import handles
from asset_anchor.payments.service import locked_payment_of, refresh_payment


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
        return await refresh_payment(session, stripe, intent_id)
    except StripeError as error:
        if error.not_found:
            return "payment intent not found at Stripe"
        raise


@handles(
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
)
async def refunds_changed(
    session: AsyncSession, stripe: StripeClient, event: dict[str, Any]
) -> str:
    about = event["data"]["object"]
    charge_id = about["id"] if about.get("object") == "charge" else about.get("charge")
    if not charge_id:
        return "not the refund of a charge"
    # Locked before the charge is fetched (see ``refresh_payment``).
    await locked_payment_of(session, about.get("payment_intent"))
    try:
        charge = await stripe.retrieve_charge(str(charge_id))
    except StripeError as error:
        if error.not_found:
            return "charge not found at Stripe"
        raise
    return await refunds.apply_charge(session, stripe, charge)


@handles(
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
async def dispute_changed(
    session: AsyncSession, stripe: StripeClient, event: dict[str, Any]
) -> str:
    dispute_id = str(event["data"]["object"]["id"])
    await locked_payment_of(session, event["data"]["object"].get("payment_intent"))
    try:
        dispute = await stripe.retrieve_dispute(dispute_id)
    except StripeError as error:
        if error.not_found:
            return "dispute not found at Stripe"
        raise
    return await disputes.apply_dispute(session, stripe, dispute)


@handles("account.updated")
async def account_updated(
    session: AsyncSession, stripe: StripeClient, event: dict[str, Any]
) -> str:
    return await connect.apply_account_updated(session, stripe, event)


@handles("account.application.deauthorized")
async def account_deauthorized(
    session: AsyncSession, stripe: StripeClient, event: dict[str, Any]
) -> str:
    return await connect.disconnect(session, event)
