"""Refunds of online payments: asked for by staff, made by Stripe, then ledgered.

Staff do not record the refund of a payment that came through Stripe: the
request writes a ``StripeRefund`` (``requested``) and queues
``stripe.create_refund``, which asks Stripe for it under an idempotency key
made from our refund's id (a retried job makes one refund), reversing the
transfer to the organization and, by setting, the platform's fee. The
ledger's refund row is written only once Stripe says the refund succeeded,
keyed by Stripe's refund id, by whichever sees it first: the job's answer or
the charge's event (``apply_charge``). A refund made in Stripe's dashboard
comes through the same event and is recorded the same way.

Every writer here locks the online payment's row first, then the lease: the
payment's row is the lock for its refunds (and its disputes), so the amount
left to refund is exact, and no two writers wait on each other in opposite
order. Stripe is never called while the lease is locked.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.billing import ledger, notices, provider
from asset_anchor.billing import service as billing
from asset_anchor.billing.errors import EntryNotFound, NotReversible, RefundTooLarge
from asset_anchor.billing.schemas import EntryOut, RefundIn
from asset_anchor.email.service import queue_email
from asset_anchor.integrations.stripe import StripeClient, StripeError, every
from asset_anchor.jobs.outbox import enqueue
from asset_anchor.kit.money import format_amount
from asset_anchor.logging import get_logger
from asset_anchor.models import (
    Lease,
    LedgerEntry,
    OnlinePayment,
    StripeRefund,
    User,
)
from asset_anchor.organizations.scope import StaffScope, owned
from asset_anchor.payments.errors import PaymentsNotConfigured, RefundNotFound
from asset_anchor.payments.refund_schemas import RefundRequestOut
from asset_anchor.payments.service import (
    apply_to,
    locked_payment,
    locked_payment_of,
)
from asset_anchor.settings import Settings

log = get_logger(__name__)

IN_FLIGHT = ("requested", "pending")
_STATUSES = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}
# A refund only moves forward: an older answer never undoes a newer one. A
# refund that succeeded may still fail (the card was closed), never the
# other way round.
_RANK = {"requested": 0, "pending": 1, "succeeded": 2, "failed": 3, "canceled": 3}
_AUDITED = ("online_payment_id", "amount", "reason", "status", "stripe_refund_id")
DASHBOARD_REASON = "Refunded in Stripe's dashboard"


# --- asking -----------------------------------------------------------------


async def refund_entry(
    session: AsyncSession,
    scope: StaffScope,
    settings: Settings,
    entry_id: uuid.UUID,
    body: RefundIn,
) -> EntryOut | StripeRefund:
    """Refund a payment: recorded at once when it was received offline, asked
    of Stripe (and recorded when Stripe confirms) when it was paid online."""
    entry = await session.scalar(
        owned(scope, LedgerEntry).where(LedgerEntry.id == entry_id)
    )
    if entry is None:
        raise EntryNotFound
    payment_id = await session.scalar(
        select(OnlinePayment.id).where(OnlinePayment.ledger_entry_id == entry.id)
    )
    if payment_id is None:
        return await billing.refund(session, scope, entry_id, body)
    return await request_refund(session, scope, settings, entry, payment_id, body)


async def request_refund(
    session: AsyncSession,
    scope: StaffScope,
    settings: Settings,
    entry: LedgerEntry,
    payment_id: uuid.UUID,
    body: RefundIn,
) -> StripeRefund:
    """A refund request for the worker to send to Stripe."""
    if not settings.payments_enabled:
        raise PaymentsNotConfigured(
            "Set STRIPE_SECRET_KEY to refund payments made online."
        )
    payment = await locked_payment(session, payment_id)
    await billing.lease_for_money(session, scope, entry.lease_id)
    if await _reversed(session, entry):
        raise NotReversible("Only a payment that stands can be refunded.")
    refundable = await refundable_amount(session, entry, payment)
    if body.amount > refundable:
        raise RefundTooLarge(refundable_amount=refundable)

    refund = StripeRefund(
        id=uuid.uuid4(),
        organization_id=payment.organization_id,
        online_payment_id=payment.id,
        amount=body.amount,
        reason=body.reason,
        status="requested",
        requested_by_id=scope.user_id,
    )
    session.add(refund)
    await session.flush()
    audit.by_staff(
        session,
        scope,
        "refund.requested",
        refund.id,
        audit.created(refund, _AUDITED),
        entity_type="stripe_refund",
    )
    enqueue(session, "stripe.create_refund", refund_id=str(refund.id))
    await session.refresh(refund)
    log.info(
        "refund.requested",
        refund_id=str(refund.id),
        payment_id=str(payment.id),
        amount=refund.amount,
    )
    return refund


async def _reversed(session: AsyncSession, entry: LedgerEntry) -> bool:
    if entry.entry_type != "payment" or entry.reverses_id is not None:
        return True
    reversal = await session.scalar(
        select(LedgerEntry.id).where(LedgerEntry.reverses_id == entry.id)
    )
    return reversal is not None


async def refundable_amount(
    session: AsyncSession, entry: LedgerEntry, payment: OnlinePayment
) -> int:
    """What is left to refund of a payment: its amount less the refunds in the
    ledger and those asked for that Stripe has not settled yet (a succeeded
    refund is always in the ledger, written in the same transaction)."""
    recorded = await ledger.refunded_amount(session, entry)
    asked = await session.scalar(
        select(func.coalesce(func.sum(StripeRefund.amount), 0)).where(
            StripeRefund.online_payment_id == payment.id,
            StripeRefund.status.in_(IN_FLIGHT),
        )
    )
    return entry.amount - recorded - int(asked or 0)


# --- sending (the job) ------------------------------------------------------


async def send(
    session: AsyncSession,
    stripe: StripeClient,
    settings: Settings,
    refund_id: uuid.UUID,
    *,
    retried: bool = False,
) -> str:
    """Ask Stripe for a requested refund; say what came of it.

    Stripe's refusal (a 4xx other than our own key's) fails the request with
    Stripe's reason, for staff to see; an outage raises, so the job retries
    with the same idempotency key.
    """
    refund = await session.get(StripeRefund, refund_id)
    if refund is None:
        return "unknown refund"
    if refund.status != "requested":
        return f"sent already ({refund.status})"
    payment = await session.get(OnlinePayment, refund.online_payment_id)
    assert payment is not None
    assert payment.stripe_payment_intent_id is not None
    # Stripe keeps an idempotency key about a day: a try after the first
    # (a replayed dead job may come much later) asks first whether the
    # refund exists, by the id we sent in its metadata.
    answer = await _made_before(stripe, payment, refund) if retried else None
    if answer is None:
        try:
            answer = await stripe.create_refund(
                refund_id=str(refund.id),
                payment_intent=payment.stripe_payment_intent_id,
                amount=refund.amount,
                refund_application_fee=settings.stripe_refund_application_fee,
                metadata={
                    "refund_id": str(refund.id),
                    "payment_id": str(payment.id),
                    "lease_id": str(payment.lease_id),
                },
            )
        except StripeError as error:
            if error.error_type == "idempotency_error":
                # Our key with other parameters (a setting changed between
                # tries): the first try reached Stripe. Never a refusal.
                answer = await _made_before(stripe, payment, refund)
                if answer is None:
                    raise
            elif error.transient or error.status in (401, 403):
                raise  # an outage, or our key: try again, or end dead
            else:
                return await _refused(session, payment.id, refund.id, str(error))

    payment = await locked_payment(session, payment.id)
    await session.refresh(refund)
    if refund.status != "requested":
        # Stripe's event about it was handled meanwhile, from a newer look.
        return f"settled by Stripe's event ({refund.status})"
    lease = await provider.locked_lease(session, payment.lease_id)
    return await settle(session, lease, payment, answer, refund)


async def _made_before(
    stripe: StripeClient, payment: OnlinePayment, refund: StripeRefund
) -> dict[str, Any] | None:
    """Stripe's refund made for ours by an earlier try, if there is one."""
    assert payment.stripe_payment_intent_id is not None
    intent = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
    charge = intent.get("latest_charge")
    charge_id = charge.get("id") if isinstance(charge, dict) else charge
    if not charge_id:
        return None
    for made in await charge_refunds(stripe, {"id": charge_id}):
        if (made.get("metadata") or {}).get("refund_id") == str(refund.id):
            return made
    return None


async def charge_refunds(
    stripe: StripeClient, charge: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every refund of a charge: the page it came with (when fetched with
    them), then the rest of Stripe's list."""
    shown = charge.get("refunds")
    if isinstance(shown, dict) and not shown.get("has_more"):
        return list(shown.get("data") or [])
    return [one async for one in every(stripe.list_refunds, charge=str(charge["id"]))]


async def _refused(
    session: AsyncSession, payment_id: uuid.UUID, refund_id: uuid.UUID, reason: str
) -> str:
    payment = await locked_payment(session, payment_id)
    refund = await session.get(
        StripeRefund, refund_id, populate_existing=True, with_for_update=True
    )
    assert refund is not None
    if refund.status != "requested":
        return f"settled by Stripe's event ({refund.status})"
    _update(session, payment, refund, status="failed", failure_message=reason[:500])
    await _tell_requester(session, payment, refund)
    log.warning("refund.failed", refund_id=str(refund.id), reason=reason)
    return f"refused by Stripe: {reason}"


# --- Stripe's word ----------------------------------------------------------


async def apply_charge(
    session: AsyncSession, stripe: StripeClient, charge: dict[str, Any]
) -> str:
    """Bring our refunds and the ledger to match a charge's refunds as Stripe
    has them now (``charge`` fetched with its refunds); say what was done."""
    payment = await locked_payment_of(session, charge.get("payment_intent"))
    if payment is None:
        return "unknown payment intent"
    if not await catch_up(session, stripe, payment):
        return "the payment is not in the ledger"
    every = await charge_refunds(stripe, charge)
    lease = await provider.locked_lease(session, payment.lease_id)
    outcomes = []
    for stripe_refund in every:
        ours = await _ours(session, payment, stripe_refund)
        outcomes.append(await settle(session, lease, payment, stripe_refund, ours))
    return "; ".join(outcomes) or "no refunds"


async def catch_up(
    session: AsyncSession, stripe: StripeClient, payment: OnlinePayment
) -> bool:
    """Whether the payment is in the ledger, after applying its PaymentIntent
    when an event about its money came before the one about its success."""
    if payment.ledger_entry_id is None and payment.stripe_payment_intent_id:
        intent = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
        await apply_to(session, payment, intent)
    return payment.ledger_entry_id is not None


async def _ours(
    session: AsyncSession, payment: OnlinePayment, stripe_refund: dict[str, Any]
) -> StripeRefund | None:
    """Our row of a Stripe refund: by Stripe's id, or by the id we sent in its
    metadata (the event can come before the job has stored Stripe's id)."""
    by_stripe_id = await session.scalar(
        select(StripeRefund).where(StripeRefund.stripe_refund_id == stripe_refund["id"])
    )
    if by_stripe_id is not None:
        return by_stripe_id
    try:
        refund_id = uuid.UUID(str((stripe_refund.get("metadata") or {})["refund_id"]))
    except (KeyError, ValueError):
        return None
    mine: StripeRefund | None = await session.scalar(
        select(StripeRefund).where(
            StripeRefund.id == refund_id,
            StripeRefund.online_payment_id == payment.id,
            StripeRefund.stripe_refund_id.is_(None),
        )
    )
    return mine


async def settle(
    session: AsyncSession,
    lease: Lease,
    payment: OnlinePayment,
    stripe_refund: dict[str, Any],
    ours: StripeRefund | None,
) -> str:
    """Apply one Stripe refund: the ledger gets it once it succeeded (and loses
    it if it failed afterwards); our row follows. The caller holds the
    payment's and the lease's locks."""
    refund_id = str(stripe_refund["id"])
    status = _STATUSES.get(str(stripe_refund.get("status")), "pending")
    if ours is None:
        ours = _from_dashboard(payment, stripe_refund)
        session.add(ours)
        await session.flush()
        audit.record(
            session,
            organization_id=payment.organization_id,
            actor_id=None,
            action="refund.made_at_stripe",
            entity_type="stripe_refund",
            entity_id=ours.id,
            changes=audit.created(ours, _AUDITED),
        )
        log.info(
            "refund.made_at_stripe", refund_id=str(ours.id), stripe_refund=refund_id
        )
    if _RANK[status] < _RANK[ours.status]:
        ours.stripe_refund_id = refund_id
        return f"{refund_id}: {ours.status} already"

    outcome = f"{refund_id}: {status}"
    recorded = await provider.entry_by_external_id(session, refund_id)
    if status == "succeeded" and recorded is None:
        entry = await session.get(LedgerEntry, payment.ledger_entry_id)
        assert entry is not None
        timezone = await provider.timezone_of(session, lease)
        day = provider.day_of(timezone, stripe_refund.get("created"))
        row = await provider.record_refund(
            session,
            lease,
            entry,
            amount=int(stripe_refund["amount"]),
            on=day,
            reason=ours.reason,
            external_id=refund_id,
        )
        if row is not None:
            await _tell_tenants(session, lease, entry, row)
            outcome += ", recorded in the ledger"
    elif status in ("failed", "canceled") and recorded is not None:
        failure = stripe_refund.get("failure_reason") or "returned"
        reversal = await provider.reverse(
            session,
            lease,
            recorded,
            on=provider.day_of(await provider.timezone_of(session, lease)),
            reason=f"The refund did not go through: {failure}",
            external_id=f"{refund_id}:failed",
        )
        if reversal is not None:
            outcome += ", reversed in the ledger"
            # The money came back to the platform's balance; whether Stripe
            # also undid the transfer reversal is for an operator to check.
            log.warning(
                "refund.failed_after_success",
                refund_id=str(ours.id),
                stripe_refund=refund_id,
                amount=int(stripe_refund.get("amount") or 0),
                organization_id=str(payment.organization_id),
            )
    failed_now = status == "failed" and ours.status != "failed"
    values: dict[str, Any] = {"status": status, "stripe_refund_id": refund_id}
    if status in ("failed", "canceled"):
        failure = stripe_refund.get("failure_reason") or status
        values["failure_message"] = str(failure)[:500]
    _update(session, payment, ours, **values)
    if failed_now:
        await _tell_requester(session, payment, ours)
    log.info("refund.updated", refund_id=str(ours.id), outcome=outcome)
    return outcome


def _from_dashboard(
    payment: OnlinePayment, stripe_refund: dict[str, Any]
) -> StripeRefund:
    why = stripe_refund.get("reason")
    reason = DASHBOARD_REASON + (f" ({str(why).replace('_', ' ')})" if why else "")
    return StripeRefund(
        id=uuid.uuid4(),
        organization_id=payment.organization_id,
        online_payment_id=payment.id,
        amount=int(stripe_refund["amount"]),
        reason=reason,
        status="pending",
        stripe_refund_id=str(stripe_refund["id"]),
        requested_by_id=None,
    )


def _update(
    session: AsyncSession,
    payment: OnlinePayment,
    refund: StripeRefund,
    **values: Any,
) -> None:
    """Change a refund as Stripe says, audited with no actor (Stripe decided)."""
    changes = audit.apply_changes(refund, values)
    if not changes:
        return
    audit.record(
        session,
        organization_id=payment.organization_id,
        actor_id=None,
        action=f"refund.{refund.status}",
        entity_type="stripe_refund",
        entity_id=refund.id,
        changes=changes,
    )


# --- telling ----------------------------------------------------------------


async def _tell_tenants(
    session: AsyncSession, lease: Lease, payment: LedgerEntry, refund: LedgerEntry
) -> None:
    """A receipt of the refund, to each tenant, once."""
    owed = await ledger.balance(session, lease.id)
    await notices.send_to_tenants(
        session,
        lease,
        kind="refund_receipt",
        occasion=f"refund:{refund.external_id}",
        context={
            "payment_id": str(payment.id),
            "amount": format_amount(refund.amount, refund.currency),
            "paid_amount": format_amount(payment.amount, payment.currency),
            "paid_on": payment.effective_on.isoformat(),
            "refunded_on": refund.effective_on.isoformat(),
            "by_card": payment.method == "card",
            "reason": refund.reason or "",
            "balance": format_amount(abs(owed), refund.currency),
            "in_credit": owed < 0,
            "settled": owed == 0,
        },
    )


async def _tell_requester(
    session: AsyncSession, payment: OnlinePayment, refund: StripeRefund
) -> None:
    """The member of staff who asked hears that Stripe refused (once: a
    refund fails only once)."""
    if refund.requested_by_id is None:
        return
    user = await session.get(User, refund.requested_by_id)
    lease = await session.get(Lease, payment.lease_id)
    if user is None or lease is None:
        return
    place = await notices.place_of(session, lease)
    queue_email(
        session,
        kind="refund_failed_staff",
        to_address=user.email,
        to_name=user.full_name,
        context={
            **place,
            "amount": format_amount(refund.amount, payment.currency),
            "reason": refund.failure_message or "Stripe gave no reason.",
            "lease_id": str(lease.id),
        },
    )


# --- reading ----------------------------------------------------------------


async def read_refund(
    session: AsyncSession, scope: StaffScope, refund_id: uuid.UUID
) -> RefundRequestOut:
    refund = await session.scalar(
        owned(scope, StripeRefund).where(StripeRefund.id == refund_id)
    )
    if refund is None:
        raise RefundNotFound
    return await refund_out(session, refund)


async def refund_out(session: AsyncSession, refund: StripeRefund) -> RefundRequestOut:
    payment = await session.get(OnlinePayment, refund.online_payment_id)
    assert payment is not None
    return refund_out_of(payment, refund)


def refund_out_of(payment: OnlinePayment, refund: StripeRefund) -> RefundRequestOut:
    return RefundRequestOut(
        id=refund.id,
        payment_entry_id=payment.ledger_entry_id,
        lease_id=payment.lease_id,
        amount=refund.amount,
        currency=payment.currency,
        reason=refund.reason,
        status=refund.status,
        failure_message=refund.failure_message,
        requested_by_id=refund.requested_by_id,
        created_at=refund.created_at,
        updated_at=refund.updated_at,
    )
