"""Disputes (chargebacks) of online payments, in the ledger.

A dispute takes the money back from the platform, and so from the
organization, while it is open; won, the money comes back; lost, it stays
gone. An inquiry (a ``warning_*`` status) moves no money and changes nothing.
The handler refetches the dispute and makes the ledger match its status now,
whichever event brought it and in whatever order:

- money taken (any status but an inquiry's): the payment is reversed, keyed
  ``<dispute id>:opened``, effective on the day the dispute was opened;
- ``won``: the payment is recorded again, keyed ``<dispute id>:won``, and the
  online payment points at that row from then on (it is the one that stands,
  to refund or dispute again).

Each write is made when it is missing, and the second only after the first,
so a ``closed`` (won) event handled before the ``created`` one writes both at
once, and the ``created`` one then finds nothing to do: either way the
ledger ends with the payment, its reversal and the payment again, balanced.
Tenants and staff hear of a dispute once, when its reversal is written,
unless it was won by then (nothing is owed again).

A dispute of only part of a payment, or of one partly refunded, takes back
the disputed amount as a refund row of the payment (a reversal undoes a row
whole), with the same key and reason.

The money follows in the worker (``move_money``, job
``stripe.dispute_money``). Stripe takes a disputed destination charge from
the platform's balance, not the organization's, so the worker reverses the
charge's transfer by the disputed amount, taking it back from the
organization's account, and, once the dispute is won and Stripe has given
the money back to the platform, transfers the same amount to the
organization again. Each Stripe call is keyed by the dispute, and its answer
is stored on the dispute's row (``StripeDispute``) under the row's lock, so a
job run twice moves the money once. The platform fee goes back with the
reversal when ``STRIPE_REFUND_APPLICATION_FEE`` says so, as for refunds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import notices, provider
from asset_anchor.integrations.stripe import Lister, StripeClient, every
from asset_anchor.jobs.outbox import enqueue
from asset_anchor.kit.money import format_amount
from asset_anchor.logging import get_logger
from asset_anchor.models import (
    Lease,
    LedgerEntry,
    OnlinePayment,
    StripeDispute,
)
from asset_anchor.payments.refunds import catch_up, refundable_amount
from asset_anchor.payments.service import locked_payment_of
from asset_anchor.settings import Settings

log = get_logger(__name__)


def _words(reason: Any) -> str:
    return str(reason or "general").replace("_", " ")


async def apply_dispute(
    session: AsyncSession, stripe: StripeClient, dispute: dict[str, Any]
) -> str:
    """Bring the ledger to match a dispute as Stripe has it now; say what was
    done. Safe to run any number of times, in any order."""
    status = str(dispute.get("status") or "")
    if status.startswith("warning_"):
        return f"an inquiry ({status}): no money moved"
    payment = await locked_payment_of(session, dispute.get("payment_intent"))
    if payment is None:
        return "unknown payment intent"
    if not await catch_up(session, stripe, payment):
        return "the payment is not in the ledger"
    lease = await provider.locked_lease(session, payment.lease_id)
    timezone = await provider.timezone_of(session, lease)

    dispute_id = str(dispute["id"])
    outcome = [status]
    taken = await provider.entry_by_external_id(session, f"{dispute_id}:opened")
    if taken is None:
        taken = await _take_back(session, lease, payment, dispute, timezone)
        if taken is None:
            return f"{status}: the payment could not be taken back"
        outcome.append("reversed in the ledger")
        if status != "won":
            await _tell(session, lease, payment, dispute)
            outcome.append("tenants and staff told")
    if status == "won" and await _give_back(
        session, lease, payment, dispute, taken, timezone
    ):
        outcome.append("recorded again in the ledger")
    if await _follow(session, payment, dispute_id, taken.amount, status):
        outcome.append("money to move")
    log.info(
        "payment.dispute_applied",
        payment_id=str(payment.id),
        dispute=dispute_id,
        outcome=", ".join(outcome),
    )
    return ", ".join(outcome)


async def _take_back(
    session: AsyncSession,
    lease: Lease,
    payment: OnlinePayment,
    dispute: dict[str, Any],
    timezone: str,
) -> LedgerEntry | None:
    entry = await session.get(LedgerEntry, payment.ledger_entry_id)
    assert entry is not None
    amount = int(dispute.get("amount") or entry.amount)
    on = provider.day_of(timezone, dispute.get("created"))
    reason = f"Disputed by the cardholder ({_words(dispute.get('reason'))})"
    key = f"{dispute['id']}:opened"
    if amount >= entry.amount and await refundable_amount(session, entry, payment) == (
        entry.amount
    ):
        return await provider.reverse(
            session, lease, entry, on=on, reason=reason, external_id=key
        )
    return await provider.record_refund(
        session, lease, entry, amount=amount, on=on, reason=reason, external_id=key
    )


async def _give_back(
    session: AsyncSession,
    lease: Lease,
    payment: OnlinePayment,
    dispute: dict[str, Any],
    taken: LedgerEntry,
    timezone: str,
) -> bool:
    """The dispute was won: what it took is paid again (tenants get a receipt)."""
    again = await provider.record_payment(
        session,
        lease,
        amount=taken.amount,
        method=payment.method,
        received_on=provider.day_of(timezone),
        external_id=f"{dispute['id']}:won",
        description="Paid online; the dispute was won",
    )
    if again is None:
        return False
    if taken.reverses_id is not None and taken.reverses_id == payment.ledger_entry_id:
        payment.ledger_entry_id = again.id
    await session.flush()
    return True


async def _tell(
    session: AsyncSession,
    lease: Lease,
    payment: OnlinePayment,
    dispute: dict[str, Any],
) -> None:
    """The tenants and the organization's staff hear of the dispute, once each."""
    evidence = dispute.get("evidence_details") or {}
    due_by = evidence.get("due_by")
    context = {
        "amount": format_amount(int(dispute.get("amount") or 0), payment.currency),
        "reason": _words(dispute.get("reason")),
        "lease_id": str(lease.id),
        "due_by": datetime.fromtimestamp(due_by, tz=UTC).isoformat()
        if isinstance(due_by, int)
        else None,
    }
    await notices.send_to_tenants(
        session,
        lease,
        kind="payment_disputed",
        occasion=f"dispute:{dispute['id']}",
        context=context,
    )
    await notices.send_to_staff(
        session,
        lease,
        kind="payment_disputed_staff",
        occasion=f"dispute-staff:{dispute['id']}",
        context=context,
    )


# --- the money between the platform and the organization --------------------


async def _follow(
    session: AsyncSession,
    payment: OnlinePayment,
    dispute_id: str,
    amount: int,
    status: str,
) -> bool:
    """Keep the dispute's row at Stripe's status; queue the worker's money
    job whenever the status changes (it refetches, so a stale one is
    harmless). Whether a job was queued."""
    inserted = await session.scalar(
        insert(StripeDispute)
        .values(
            id=uuid.uuid4(),
            organization_id=payment.organization_id,
            online_payment_id=payment.id,
            stripe_dispute_id=dispute_id,
            amount=amount,
            status=status,
        )
        .on_conflict_do_nothing(index_elements=[StripeDispute.stripe_dispute_id])
        .returning(StripeDispute.id)
    )
    if inserted is None:
        row = await session.scalar(
            select(StripeDispute)
            .where(StripeDispute.stripe_dispute_id == dispute_id)
            .with_for_update()
        )
        assert row is not None
        if row.status == status:
            return False
        row.status = status
    enqueue(session, "stripe.dispute_money", dispute_id=dispute_id)
    return True


async def move_money(
    session: AsyncSession,
    stripe: StripeClient,
    settings: Settings,
    dispute_id: str,
) -> str:
    """Take a disputed payment's money back from the organization while the
    dispute stands, and pay it again once it is won; say what was done.

    Stripe is called without holding the dispute's row (the handler of the
    next event may want it while the ledger is locked); two runs at once
    send the same key and get the same answer, which is stored under the
    row's lock. Stripe's refusal is raised (the job ends dead, for an
    operator: see the runbook), as is an outage (the job retries under the
    same keys).
    """
    # Two runs for one dispute (its opening's and its closing's) go one
    # after the other, so the second sees what the first moved. The
    # dispute's row is not held: the next event's handler may want it.
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(dispute_id, 0)))
    )
    row = await _dispute_row(session, dispute_id)
    if row is None:
        return "unknown dispute"
    dispute = await stripe.retrieve_dispute(dispute_id)
    status = str(dispute.get("status") or "")
    if status.startswith("warning_"):
        return f"an inquiry ({status}): no money moved"
    if status == "won" and row.transfer_reversal_id is None:
        return "won before any money was taken back: nothing to move"
    if status == "won" and row.return_transfer_id is not None:
        return "paid out again already"
    if status != "won" and row.transfer_reversal_id is not None:
        return f"{status}: taken back already"
    charge = await stripe.retrieve_charge(str(dispute["charge"]))
    metadata = {"dispute_id": dispute_id, "payment_id": str(row.online_payment_id)}
    if status == "won":
        return await _pay_out_again(session, stripe, row, charge, metadata)
    transfer_id = charge.get("transfer")
    if not transfer_id:
        return "the charge was not paid out to a connected account"
    # Stripe forgets an idempotency key after about a day, and a dispute's
    # job may be replayed later: what an earlier try made is looked for first.
    reversal = await _earlier(
        stripe.list_transfer_reversals, dispute_id, transfer=str(transfer_id)
    ) or await stripe.reverse_transfer(
        transfer=str(transfer_id),
        amount=row.amount,
        refund_application_fee=settings.stripe_refund_application_fee,
        key=f"dispute-{dispute_id}-reversal",
        metadata=metadata,
    )
    row = await _dispute_row(session, dispute_id, lock=True)
    assert row is not None
    if row.transfer_reversal_id is None:
        row.transfer_reversal_id = str(reversal["id"])
        row.reversed_amount = int(reversal.get("amount") or row.amount)
        await session.flush()
    log.info(
        "payment.dispute_taken_back",
        dispute=dispute_id,
        reversal=row.transfer_reversal_id,
        amount=row.reversed_amount,
    )
    return f"{status}: {row.reversed_amount} taken back from the organization"


async def _pay_out_again(
    session: AsyncSession,
    stripe: StripeClient,
    row: StripeDispute,
    charge: dict[str, Any],
    metadata: dict[str, str],
) -> str:
    """The dispute was won: what was taken back goes to the account it was
    taken from, out of the charge's funds."""
    destination = (charge.get("transfer_data") or {}).get("destination")
    if not destination:
        return "the charge was not paid out to a connected account"
    transfer = await _earlier(
        stripe.list_transfers,
        row.stripe_dispute_id,
        destination=str(destination),
        created_gte=int(row.created_at.timestamp()),
    ) or await stripe.create_transfer(
        amount=row.reversed_amount,
        currency=str(charge.get("currency") or "usd"),
        destination=str(destination),
        source_transaction=str(charge["id"]),
        key=f"dispute-{row.stripe_dispute_id}-return",
        metadata=metadata,
    )
    locked = await _dispute_row(session, row.stripe_dispute_id, lock=True)
    assert locked is not None
    if locked.return_transfer_id is None:
        locked.return_transfer_id = str(transfer["id"])
        await session.flush()
    log.info(
        "payment.dispute_paid_out_again",
        dispute=locked.stripe_dispute_id,
        transfer=locked.return_transfer_id,
        amount=locked.reversed_amount,
    )
    return f"won: {locked.reversed_amount} paid out to the organization again"


async def _earlier(
    lister: Lister, dispute_id: str, **where: Any
) -> dict[str, Any] | None:
    """The object a list of Stripe's holds for this dispute (by the id we put
    in its metadata), if an earlier try made one."""
    async for one in every(lister, **where):
        if (one.get("metadata") or {}).get("dispute_id") == dispute_id:
            return dict(one)
    return None


async def _dispute_row(
    session: AsyncSession, dispute_id: str, *, lock: bool = False
) -> StripeDispute | None:
    query = select(StripeDispute).where(StripeDispute.stripe_dispute_id == dispute_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row: StripeDispute | None = await session.scalar(query)
    return row
