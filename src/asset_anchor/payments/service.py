"""A tenant's online payment: from the request to Stripe to the ledger.

The request makes our payment row and, at once (the tenant needs its client
secret to pay), Stripe's PaymentIntent: a destination charge to the
organization's connected account, less the platform's fee. The payment's id
comes from the caller's ``Idempotency-Key``, and Stripe's idempotency key from
the payment's id, so a retried request, even one whose first try died after
Stripe answered, finds the same PaymentIntent instead of making a second.

From then on only Stripe's word counts: ``apply_to`` takes the
PaymentIntent as Stripe has it now (refetched, never the event's old copy)
and brings our row and the ledger to match, whatever order the events came
in: the ledger gets its payment when it succeeded, and loses it again when a
bank debit that had succeeded fails after all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import any_, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.auth import Principal
from asset_anchor.billing import ledger, notices, provider
from asset_anchor.billing.schedule import percent_of
from asset_anchor.db import uuid_array
from asset_anchor.idempotency.service import IdempotencyKeyReused
from asset_anchor.integrations.stripe import StripeClient, StripeError
from asset_anchor.kit.money import format_amount
from asset_anchor.kit.pagination import SortColumn, Sorting, cut_page, paginate
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.logging import get_logger
from asset_anchor.models import (
    Lease,
    LedgerEntry,
    OnlinePayment,
    Organization,
    Property,
    StripeRefund,
)
from asset_anchor.organizations.scope import StaffScope, owned_columns
from asset_anchor.payments.access import as_app_error
from asset_anchor.payments.errors import (
    AmountExceedsBalance,
    AmountTooSmall,
    MethodNotAvailable,
    NothingOwed,
    OrganizationNotConnected,
    PaymentClearing,
)
from asset_anchor.payments.schemas import OnlinePaymentIn
from asset_anchor.tenants.scope import tenant_leases

log = get_logger(__name__)

# Stripe's smallest charge is about half a US dollar; 50 minor units is that
# in the two-decimal currencies we settle in, and 50 yen is Stripe's own floor.
MINIMUM_AMOUNT = 50
_PAYMENT_IDS = uuid.UUID("6b1f3c8e-4d5a-4e0b-9a77-2f1d0c6e8b41")
_STATUSES = {
    "requires_payment_method": "pending",
    "requires_confirmation": "pending",
    "requires_action": "pending",
    "requires_capture": "processing",
    "processing": "processing",
    "succeeded": "succeeded",
    "canceled": "canceled",
}


@dataclass(frozen=True)
class Started:
    payment: OnlinePayment
    client_secret: str


def payment_id_for(
    caller: Principal, lease_id: uuid.UUID, key: str | None
) -> uuid.UUID:
    """The payment's id: the same for every retry with one Idempotency-Key."""
    if key is None:
        return uuid.uuid4()
    return uuid.uuid5(_PAYMENT_IDS, f"{caller.user_id}:{lease_id}:{key}")


async def _tenants_lease(
    session: AsyncSession, caller: Principal, lease_id: uuid.UUID
) -> Lease:
    # Not locked: Stripe is called next, and a lease locked for that long
    # would stall every ledger write on it. The balance check is advice
    # (a payment that ends up more than owed is credit), not an invariant.
    lease: Lease | None = await session.scalar(
        select(Lease).where(
            Lease.id.in_(tenant_leases(caller, Lease.id)), Lease.id == lease_id
        )
    )
    if lease is None:
        raise LeaseNotFound
    return lease


async def start_payment(
    session: AsyncSession,
    stripe: StripeClient,
    caller: Principal,
    lease_id: uuid.UUID,
    body: OnlinePaymentIn,
    *,
    idempotency_key: str | None,
) -> Started:
    """Pay what the lease owes, or part of it, by card or bank debit."""
    lease = await _tenants_lease(session, caller, lease_id)
    payment_id = payment_id_for(caller, lease.id, idempotency_key)
    # A retry finds the first try's committed row; nothing is locked for it,
    # so the worker handling that payment's events never waits on a request.
    existing = await session.get(OnlinePayment, payment_id)
    if existing is not None:
        return await _again(stripe, existing, body)

    organization = await session.get(Organization, lease.organization_id)
    assert organization is not None
    if not organization.stripe_account_id or not organization.stripe_charges_enabled:
        raise OrganizationNotConnected(
            "Pay your landlord another way for now; they will be told."
        )
    if body.method == "us_bank_account" and lease.currency != "USD":
        raise MethodNotAvailable(
            "A US bank account pays in US dollars only; pay by card.",
            currency=lease.currency,
        )
    if body.amount < MINIMUM_AMOUNT:
        raise AmountTooSmall(minimum_amount=MINIMUM_AMOUNT)
    owed = await ledger.balance(session, lease.id)
    if owed <= 0:
        raise NothingOwed
    # A bank debit on its way is not in the ledger yet; paying it again
    # would only leave the tenant in credit.
    clearing = await clearing_amount(session, lease.id)
    if owed - clearing <= 0:
        raise PaymentClearing(balance_amount=owed, clearing_amount=clearing)
    if body.amount > owed - clearing:
        raise AmountExceedsBalance(
            balance_amount=owed,
            clearing_amount=clearing,
            payable_amount=owed - clearing,
        )

    fee = percent_of(body.amount, organization.platform_fee_bps)
    inserted = await session.scalar(
        insert(OnlinePayment)
        .values(
            id=payment_id,
            organization_id=lease.organization_id,
            lease_id=lease.id,
            payer_id=caller.user_id,
            amount=body.amount,
            currency=lease.currency,
            method=body.method,
            status="pending",
            application_fee_amount=fee,
        )
        .on_conflict_do_nothing(index_elements=[OnlinePayment.id])
        .returning(OnlinePayment.id)
    )
    if inserted is None:
        # The same key a moment ago, from another request that has committed.
        raced = await session.get(OnlinePayment, payment_id)
        assert raced is not None
        return await _again(stripe, raced, body)
    payment = await session.get(OnlinePayment, payment_id)
    assert payment is not None
    try:
        intent = await stripe.create_payment_intent(
            payment_id=str(payment.id),
            amount=payment.amount,
            currency=payment.currency,
            method=payment.method,
            destination=organization.stripe_account_id,
            application_fee_amount=fee,
            description=await _describe(session, lease),
            metadata={
                "payment_id": str(payment.id),
                "lease_id": str(lease.id),
                "organization_id": str(lease.organization_id),
            },
        )
    except StripeError as error:
        raise as_app_error(error) from error
    payment.stripe_payment_intent_id = intent["id"]
    payment.status = _STATUSES.get(intent.get("status", ""), "pending")
    await session.flush()
    log.info(
        "payment.started",
        payment_id=str(payment.id),
        payment_intent=intent["id"],
        method=payment.method,
    )
    return Started(payment, intent["client_secret"])


async def clearing_amount(session: AsyncSession, lease_id: uuid.UUID) -> int:
    """What the lease's online payments still clearing add up to (a bank
    debit is ``processing`` for a few business days before it succeeds)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(OnlinePayment.amount), 0)).where(
            OnlinePayment.lease_id == lease_id,
            OnlinePayment.status == "processing",
        )
    )
    return int(total or 0)


async def _again(
    stripe: StripeClient, payment: OnlinePayment, body: OnlinePaymentIn
) -> Started:
    """The answer to a retry: the first request's payment, or a 409."""
    if (payment.amount, payment.method) != (body.amount, body.method):
        raise IdempotencyKeyReused
    assert payment.stripe_payment_intent_id is not None
    try:
        intent = await stripe.retrieve_payment_intent(payment.stripe_payment_intent_id)
    except StripeError as error:
        raise as_app_error(error) from error
    return Started(payment, intent["client_secret"])


async def _describe(session: AsyncSession, lease: Lease) -> str:
    name = await session.scalar(
        select(Property.name).where(Property.id == lease.property_id)
    )
    return f"Rent, {name}"[:200]


# --- Stripe's word --------------------------------------------------------------


def status_of(intent: dict[str, Any]) -> str:
    """Our status of a payment whose PaymentIntent Stripe holds as ``intent``."""
    status = str(intent.get("status", ""))
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return "failed"
    return _STATUSES.get(status, "pending")


def _failure_of(intent: dict[str, Any]) -> str | None:
    error = intent.get("last_payment_error") or {}
    message = error.get("message") or error.get("code")
    return str(message)[:500] if message else None


async def locked_payment(session: AsyncSession, payment_id: uuid.UUID) -> OnlinePayment:
    """An online payment, its row locked and read afresh. Its lock comes
    before its lease's, everywhere."""
    payment = await session.scalar(
        select(OnlinePayment)
        .where(OnlinePayment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert payment is not None
    return payment


async def locked_payment_of(
    session: AsyncSession, intent_id: str | None
) -> OnlinePayment | None:
    """Our payment of a PaymentIntent, its row locked and read afresh."""
    if not intent_id:
        return None
    found: OnlinePayment | None = await session.scalar(
        select(OnlinePayment)
        .where(OnlinePayment.stripe_payment_intent_id == intent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return found


async def apply_to(
    session: AsyncSession, payment: OnlinePayment, intent: dict[str, Any]
) -> str:
    """Bring our payment and the ledger to match its PaymentIntent as Stripe
    has it now; say what was done. Safe to run any number of times. The
    caller holds the payment's row lock and fetched ``intent`` after taking
    it (``refresh_payment``), so no older look is applied after a newer."""
    lease = await provider.locked_lease(session, payment.lease_id)
    before, after = payment.status, status_of(intent)
    timezone = await provider.timezone_of(session, lease)
    today = provider.day_of(timezone)

    outcome = f"{before} -> {after}"
    if after == "succeeded" and payment.ledger_entry_id is None:
        entry = await provider.record_payment(
            session,
            lease,
            amount=int(intent.get("amount_received") or payment.amount),
            method=payment.method,
            # The day the money was taken: the charge's.
            received_on=provider.day_of(timezone, _charge_created(intent)),
            external_id=intent["id"],
            description="Paid online",
        )
        if entry is None:
            entry = await provider.entry_by_external_id(session, intent["id"])
        assert entry is not None
        payment.ledger_entry_id = entry.id
        payment.succeeded_at = payment.succeeded_at or utc_now()
        outcome += ", recorded in the ledger"
    elif after in ("failed", "canceled") and payment.ledger_entry_id is not None:
        entry = await session.get(LedgerEntry, payment.ledger_entry_id)
        assert entry is not None
        if await _take_back(session, lease, entry, intent, today):
            outcome += ", taken back in the ledger"
    if after == "failed" and before != "failed":
        payment.failed_at = utc_now()
        payment.failure_message = _failure_of(intent)
        # The tenant hears of a bank debit that was taken and then failed,
        # whether or not we saw it processing (that event may come late or
        # never); a card declined at checkout is shown there and then.
        was_taken = before in ("processing", "succeeded") or (
            payment.method == "us_bank_account" and bool(intent.get("latest_charge"))
        )
        if was_taken:
            await tell_of_failure(session, lease, payment)
            outcome += ", tenants and staff told"
    payment.status = after
    await session.flush()
    log.info("payment.updated", payment_id=str(payment.id), outcome=outcome)
    return outcome


async def _take_back(
    session: AsyncSession,
    lease: Lease,
    entry: LedgerEntry,
    intent: dict[str, Any],
    today: Any,
) -> bool:
    """The payment failed after the ledger had it: undo what of it still
    stands (a reversal when none of it was refunded, else the rest as a
    refund row, so a refund is never taken back twice)."""
    reason = f"The bank payment failed: {_failure_of(intent) or 'returned'}"
    key = f"{intent['id']}:failed"
    left = entry.amount - await ledger.refunded_amount(session, entry)
    if left == entry.amount:
        written = await provider.reverse(
            session, lease, entry, on=today, reason=reason, external_id=key
        )
    elif left > 0:
        written = await provider.record_refund(
            session,
            lease,
            entry,
            amount=left,
            on=today,
            reason=reason,
            external_id=key,
        )
    else:
        return False
    return written is not None


async def refresh_payment(
    session: AsyncSession, stripe: StripeClient, intent_id: str
) -> str:
    """Lock our payment of a PaymentIntent, then fetch the PaymentIntent and
    apply it. Fetched under the lock, Stripe's answer is at least as new as
    the one any earlier handler applied, so a slow handler's older look can
    never undo a newer one. Raises ``StripeError``."""
    payment = await locked_payment_of(session, intent_id)
    if payment is None:
        return "unknown payment intent"
    intent = await stripe.retrieve_payment_intent(intent_id)
    return await apply_to(session, payment, intent)


def _charge_created(intent: dict[str, Any]) -> Any:
    charge = intent.get("latest_charge")
    return charge.get("created") if isinstance(charge, dict) else None


async def tell_of_failure(
    session: AsyncSession, lease: Lease, payment: OnlinePayment
) -> None:
    """A bank payment that failed after it had been taken: the tenants and the
    organization's staff hear of it, once."""
    context = {
        "amount": format_amount(payment.amount, payment.currency),
        "reason": payment.failure_message or "The bank returned the payment.",
        "payment_id": str(payment.id),
        "lease_id": str(lease.id),
    }
    await notices.send_to_tenants(
        session,
        lease,
        kind="payment_failed",
        occasion=f"payment-failed:{payment.id}",
        context=context,
    )
    await notices.send_to_staff(
        session,
        lease,
        kind="payment_failed_staff",
        occasion=f"payment-failed-staff:{payment.id}",
        context=context,
    )


PAYMENT_SORTING = Sorting(
    columns={"created_at": SortColumn(OnlinePayment.created_at, "datetime")},
    default="-created_at",
    id_column=OnlinePayment.id,
)


async def my_payments(
    session: AsyncSession,
    caller: Principal,
    lease_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[OnlinePayment], str | None]:
    """One page of the caller's own lease's online payments, newest first."""
    lease = await session.scalar(
        select(Lease.id).where(
            Lease.id.in_(tenant_leases(caller, Lease.id)), Lease.id == lease_id
        )
    )
    if lease is None:
        raise LeaseNotFound
    return await _page_of_payments(session, lease, cursor, limit)


async def lease_payments(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[OnlinePayment, list[StripeRefund]]], str | None]:
    """One page of an organization's lease's online payments, newest first,
    each with the refunds asked of Stripe (two statements for any page)."""
    lease = await session.scalar(
        owned_columns(scope, Lease, Lease.id).where(Lease.id == lease_id)
    )
    if lease is None:
        raise LeaseNotFound
    payments, next_cursor = await _page_of_payments(session, lease, cursor, limit)
    refunds: dict[uuid.UUID, list[StripeRefund]] = {one.id: [] for one in payments}
    if payments:
        for refund in await session.scalars(
            select(StripeRefund)
            .where(StripeRefund.online_payment_id == any_(uuid_array(refunds)))
            .order_by(StripeRefund.created_at, StripeRefund.id)
        ):
            refunds[refund.online_payment_id].append(refund)
    return [(one, refunds[one.id]) for one in payments], next_cursor


async def _page_of_payments(
    session: AsyncSession, lease_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[OnlinePayment], str | None]:
    order = PAYMENT_SORTING.order(None)
    rows = list(
        await session.scalars(
            paginate(
                select(OnlinePayment).where(OnlinePayment.lease_id == lease_id),
                order,
                cursor,
                limit,
            )
        )
    )
    return cut_page(rows, order, limit, lambda row: (row.created_at, row.id))
