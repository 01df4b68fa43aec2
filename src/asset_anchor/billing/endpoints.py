"""The rent ledger API, staff side: a lease's money, and its entries.

Every write needs a confirmed email address and is audited; those that move
money (payments, refunds, the deposit's disposition) also take an
``Idempotency-Key``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from asset_anchor.accounts.auth import EmailNotVerified, TokenExpiredError
from asset_anchor.billing import deposits, service
from asset_anchor.billing.errors import (
    AlreadyReversed,
    DeductionsExceedDeposit,
    EntryNotFound,
    HasRefunds,
    LeaseNotInForce,
    LeaseStillActive,
    NothingHeld,
    NotReversible,
    NotWaivable,
    RefundMethodRequired,
    RefundTooLarge,
)
from asset_anchor.billing.schemas import (
    BalanceOut,
    ChargeIn,
    CreditIn,
    DepositOut,
    DispositionIn,
    DispositionOut,
    EntryOut,
    PaymentIn,
    ReasonIn,
    RefundIn,
)
from asset_anchor.db import SessionDep
from asset_anchor.deps import SettingsDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.idempotency import service as idempotency
from asset_anchor.kit.pagination import Cursor, InvalidCursor, Limit, Page
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.organizations.scope import StaffLookup, VerifiedStaffLookup
from asset_anchor.payments import refunds as online_refunds
from asset_anchor.payments.errors import PaymentsNotConfigured
from asset_anchor.payments.refund_schemas import RefundRequestOut

leases_router = APIRouter(prefix="/api/v1/leases", tags=["leases"])
entries_router = APIRouter(prefix="/api/v1/entries", tags=["entries"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)
_MONEY = (*_SIGNED_IN, EmailNotVerified)
_IDEMPOTENT = (idempotency.IdempotencyKeyReused,)


async def _once(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    scope: Any,
    key: str | None,
    body: Any,
) -> tuple[str, idempotency.Replay | None]:
    """Claim the request's Idempotency-Key (if any): a replay, or None to go on."""
    if key is None:
        return "", None
    claim_scope = f"{scope.user_id}:{request.scope['route'].name}"
    replay = await idempotency.claim(
        session,
        settings,
        scope=claim_scope,
        key=key,
        request_fingerprint=idempotency.fingerprint(
            request.method, request.url.path, body
        ),
    )
    return claim_scope, replay


async def _answer(
    session: SessionDep, claim_scope: str, key: str | None, status: int, body: Any
) -> Any:
    if key is not None:
        await idempotency.remember(
            session, scope=claim_scope, key=key, status=status, body=body
        )
    return body


# --- a lease's money --------------------------------------------------------


@leases_router.get(
    "/{lease_id}/balance",
    name="balance_get",
    summary="What a lease's tenants owe",
    response_model=BalanceOut,
    responses=error_responses(*_SIGNED_IN, LeaseNotFound),
)
async def leases_balance_get(
    lease_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> BalanceOut:
    """The balance and its parts; each a sum of the lease's ledger rows."""
    return await service.read_balance(session, scope, lease_id)


@leases_router.get(
    "/{lease_id}/entries",
    name="entries_list",
    summary="A lease's ledger entries",
    response_model=Page[EntryOut],
    responses=error_responses(*_SIGNED_IN, LeaseNotFound, InvalidCursor),
)
async def leases_entries_list(
    lease_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EntryOut]:
    """Every row, in the order written, reversals beside what they undo."""
    items, next_cursor = await service.list_entries(
        session,
        scope,
        lease_id,
        order=service.ENTRY_SORTING.order(None),
        cursor=cursor,
        limit=limit,
    )
    return Page(items=items, next_cursor=next_cursor)


@leases_router.post(
    "/{lease_id}/charges",
    name="charges_create",
    summary="Add a one-off charge",
    status_code=201,
    response_model=EntryOut,
    responses=error_responses(*_MONEY, LeaseNotFound, LeaseNotInForce),
)
async def leases_charges_create(
    lease_id: uuid.UUID, body: ChargeIn, scope: VerifiedStaffLookup, session: SessionDep
) -> EntryOut:
    """Rent and late fees are charged by the schedule; this is for the rest.

    Money the tenants already have on account pays it at once.
    """
    return await service.add_charge(session, scope, lease_id, body)


@leases_router.post(
    "/{lease_id}/credits",
    name="credits_create",
    summary="Give a credit",
    status_code=201,
    response_model=EntryOut,
    responses=error_responses(*_MONEY, LeaseNotFound, LeaseNotInForce),
)
async def leases_credits_create(
    lease_id: uuid.UUID, body: CreditIn, scope: VerifiedStaffLookup, session: SessionDep
) -> EntryOut:
    """A concession; it pays open charges oldest due first, like a payment."""
    return await service.add_credit(session, scope, lease_id, body)


@leases_router.post(
    "/{lease_id}/payments",
    name="payments_create",
    summary="Record a payment received offline",
    status_code=201,
    response_model=EntryOut,
    responses=error_responses(*_MONEY, LeaseNotFound, LeaseNotInForce, *_IDEMPOTENT),
)
async def leases_payments_create(
    lease_id: uuid.UUID,
    body: PaymentIn,
    request: Request,
    scope: VerifiedStaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: idempotency.IdempotencyKeyHeader = None,
) -> Any:
    """Cash, a check or a bank transfer. It pays open charges oldest due first
    (partly, if it must); anything over stays as credit for the next charge.
    Each tenant gets a receipt by email.

    Send an `Idempotency-Key` so that a retry records the payment once.
    """
    claim_scope, replay = await _once(
        request, session, settings, scope, idempotency_key, body
    )
    if replay is not None:
        return replay.response()
    entry = await service.record_payment(session, scope, lease_id, body)
    return await _answer(session, claim_scope, idempotency_key, 201, entry)


@leases_router.get(
    "/{lease_id}/deposit",
    name="deposit_get",
    summary="The security deposit held",
    response_model=DepositOut,
    responses=error_responses(*_SIGNED_IN, LeaseNotFound),
)
async def leases_deposit_get(
    lease_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> DepositOut:
    """What is held, and every row of the deposit's story."""
    lease, held, entries = await deposits.read_deposit(session, scope, lease_id)
    return DepositOut(
        lease_id=lease.id,
        currency=lease.currency,
        held_amount=held,
        entries=entries,
    )


@leases_router.post(
    "/{lease_id}/deposit/disposition",
    name="deposit_dispose",
    summary="Settle the security deposit at move-out",
    response_model=DispositionOut,
    responses=error_responses(
        *_MONEY,
        LeaseNotFound,
        LeaseNotInForce,
        LeaseStillActive,
        NothingHeld,
        DeductionsExceedDeposit,
        *_IDEMPOTENT,
    ),
)
async def leases_deposit_dispose(
    lease_id: uuid.UUID,
    body: DispositionIn,
    request: Request,
    scope: VerifiedStaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: idempotency.IdempotencyKeyHeader = None,
) -> Any:
    """Once the lease has ended: itemized deductions are charged to the deposit,
    the rest pays what is owed (or not) and is refunded. Afterwards nothing is
    held; the tenants see the breakdown on their statement."""
    claim_scope, replay = await _once(
        request, session, settings, scope, idempotency_key, body
    )
    if replay is not None:
        return replay.response()
    settled = await deposits.dispose(session, scope, lease_id, body)
    return await _answer(session, claim_scope, idempotency_key, 200, settled)


# --- one entry --------------------------------------------------------------


@entries_router.get(
    "/{entry_id}",
    name="get",
    summary="One ledger entry",
    response_model=EntryOut,
    responses=error_responses(*_SIGNED_IN, EntryNotFound),
)
async def entries_get(
    entry_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> EntryOut:
    """With what is still open of a charge, or unapplied of a payment."""
    return await service.read_entry(session, scope, entry_id)


@entries_router.post(
    "/{entry_id}/reverse",
    name="reverse",
    summary="Reverse an entry",
    status_code=201,
    response_model=EntryOut,
    responses=error_responses(
        *_MONEY, EntryNotFound, AlreadyReversed, NotReversible, HasRefunds
    ),
)
async def entries_reverse(
    entry_id: uuid.UUID, body: ReasonIn, scope: VerifiedStaffLookup, session: SessionDep
) -> EntryOut:
    """Void a charge, or reverse a payment or credit, with a reason.

    The entry stays; a new one undoes it. What a reversed payment paid is
    open again; what paid a voided charge goes to the next open charge.
    """
    return await service.reverse(session, scope, entry_id, body.reason)


@entries_router.post(
    "/{entry_id}/waive",
    name="waive",
    summary="Waive a late fee",
    status_code=201,
    response_model=EntryOut,
    responses=error_responses(*_MONEY, EntryNotFound, NotWaivable),
)
async def entries_waive(
    entry_id: uuid.UUID, body: ReasonIn, scope: VerifiedStaffLookup, session: SessionDep
) -> EntryOut:
    """A credit for what is left of the fee; its rent is charged no further fee."""
    return await service.waive(session, scope, entry_id, body.reason)


@entries_router.post(
    "/{entry_id}/refunds",
    name="refunds_create",
    summary="Refund a payment",
    status_code=201,
    response_model=EntryOut,
    responses={
        202: {
            "model": RefundRequestOut,
            "description": "A payment made online: the refund is asked of Stripe.",
        },
        **error_responses(
            *_MONEY,
            EntryNotFound,
            NotReversible,
            RefundTooLarge,
            RefundMethodRequired,
            PaymentsNotConfigured,
            *_IDEMPOTENT,
        ),
    },
)
async def entries_refunds_create(
    entry_id: uuid.UUID,
    body: RefundIn,
    request: Request,
    scope: VerifiedStaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: idempotency.IdempotencyKeyHeader = None,
) -> Any:
    """Give back all or part of a payment, with a reason; what the refunded
    money had paid is open again.

    A payment received offline: the money was given back outside the platform
    (say how, in `method`); the refund is recorded at once (201, the entry).
    A payment made online: the refund is asked of Stripe, taken back from the
    organization's account (and the platform's fee with it), and answered 202
    with the request; the ledger records it when Stripe confirms, and the
    tenants get a receipt. Follow it with `GET /api/v1/refunds/{id}`.
    """
    claim_scope, replay = await _once(
        request, session, settings, scope, idempotency_key, body
    )
    if replay is not None:
        return replay.response()
    made = await online_refunds.refund_entry(session, scope, settings, entry_id, body)
    if isinstance(made, EntryOut):
        return await _answer(session, claim_scope, idempotency_key, 201, made)
    asked = await online_refunds.refund_out(session, made)
    await _answer(session, claim_scope, idempotency_key, 202, asked)
    return JSONResponse(asked.model_dump(mode="json"), status_code=202)
