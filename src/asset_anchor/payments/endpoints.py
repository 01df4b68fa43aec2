"""The online payments API: a tenant pays, and Stripe tells us what happened."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request

from asset_anchor.accounts.auth import (
    CurrentPrincipal,
    EmailNotVerified,
    TokenExpiredError,
    VerifiedPrincipal,
)
from asset_anchor.db import SessionDep
from asset_anchor.deps import SettingsDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.idempotency.service import IdempotencyKeyHeader, IdempotencyKeyReused
from asset_anchor.integrations.stripe import InvalidSignature, verify
from asset_anchor.kit.pagination import Cursor, InvalidCursor, Limit, Page
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.models import OnlinePayment
from asset_anchor.organizations.scope import StaffLookup
from asset_anchor.payments import events, refunds, service
from asset_anchor.payments.access import StripeDep
from asset_anchor.payments.errors import (
    AmountExceedsBalance,
    AmountTooSmall,
    InvalidWebhookPayload,
    InvalidWebhookSignature,
    MethodNotAvailable,
    NothingOwed,
    OrganizationNotConnected,
    PaymentClearing,
    PaymentProviderError,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
)
from asset_anchor.payments.schemas import (
    LeaseOnlinePaymentOut,
    OnlinePaymentIn,
    OnlinePaymentOut,
    StartedPaymentOut,
    WebhookAnswer,
)

router = APIRouter(prefix="/api/v1/me", tags=["me"])
staff_router = APIRouter(prefix="/api/v1/leases", tags=["leases"])
webhooks_router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)


def _out(payment: OnlinePayment) -> OnlinePaymentOut:
    return OnlinePaymentOut(
        id=payment.id,
        lease_id=payment.lease_id,
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method,
        status=payment.status,
        failure_message=payment.failure_message,
        created_at=payment.created_at,
    )


@router.post(
    "/leases/{lease_id}/payments",
    name="leases_payments_create",
    summary="Pay online",
    status_code=201,
    response_model=StartedPaymentOut,
    responses=error_responses(
        *_SIGNED_IN,
        EmailNotVerified,
        LeaseNotFound,
        PaymentsNotConfigured,
        OrganizationNotConnected,
        NothingOwed,
        PaymentClearing,
        AmountExceedsBalance,
        AmountTooSmall,
        MethodNotAvailable,
        IdempotencyKeyReused,
        PaymentProviderError,
        PaymentProviderUnavailable,
    ),
)
async def me_leases_payments_create(
    lease_id: uuid.UUID,
    body: OnlinePaymentIn,
    caller: VerifiedPrincipal,
    session: SessionDep,
    stripe: StripeDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> StartedPaymentOut:
    """Start paying what the lease owes, or part of it, by card or bank debit.

    Answers the client secret that Stripe.js needs to collect the card or bank
    details. The ledger records the payment when Stripe says it succeeded (a
    bank debit shows as `processing` for a few days first). Send an
    `Idempotency-Key`: a retry with it answers the same payment and never
    makes a second; the same key with another amount or method is a 409.
    Needs a confirmed email address.
    """
    started = await service.start_payment(
        session, stripe, caller, lease_id, body, idempotency_key=idempotency_key
    )
    shown = _out(started.payment)
    return StartedPaymentOut(**shown.model_dump(), client_secret=started.client_secret)


@router.get(
    "/leases/{lease_id}/payments",
    name="leases_payments_list",
    summary="My online payments for a lease",
    response_model=Page[OnlinePaymentOut],
    responses=error_responses(*_SIGNED_IN, LeaseNotFound, InvalidCursor),
)
async def me_leases_payments_list(
    lease_id: uuid.UUID,
    caller: CurrentPrincipal,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OnlinePaymentOut]:
    """The lease's online payments, newest first, with their state at Stripe:
    pending, processing, succeeded, failed or canceled; paged by cursor."""
    payments, next_cursor = await service.my_payments(
        session, caller, lease_id, cursor=cursor, limit=limit
    )
    return Page(items=[_out(one) for one in payments], next_cursor=next_cursor)


@staff_router.get(
    "/{lease_id}/online-payments",
    name="online_payments_list",
    summary="A lease's online payments",
    response_model=Page[LeaseOnlinePaymentOut],
    responses=error_responses(*_SIGNED_IN, LeaseNotFound, InvalidCursor),
)
async def leases_online_payments_list(
    lease_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[LeaseOnlinePaymentOut]:
    """The tenants' card and bank payments on the lease, newest first, as
    Stripe last said, with the refunds asked of Stripe for each: what is
    still clearing or failed, which the ledger does not show; paged by
    cursor."""
    page, next_cursor = await service.lease_payments(
        session, scope, lease_id, cursor=cursor, limit=limit
    )
    items = [
        LeaseOnlinePaymentOut(
            **_out(payment).model_dump(),
            payer_id=payment.payer_id,
            application_fee_amount=payment.application_fee_amount,
            payment_entry_id=payment.ledger_entry_id,
            refunds=[refunds.refund_out_of(payment, one) for one in asked],
        )
        for payment, asked in page
    ]
    return Page(items=items, next_cursor=next_cursor)


@webhooks_router.post(
    "/stripe",
    name="stripe",
    summary="Stripe's events",
    response_model=WebhookAnswer,
    responses=error_responses(
        InvalidWebhookSignature, InvalidWebhookPayload, PaymentsNotConfigured
    ),
)
async def webhooks_stripe(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> WebhookAnswer:
    """For Stripe only: the platform's and the Connect endpoint's events.

    The signature is checked over the raw body against each configured secret
    (at most 300 s old); anything else is a 400 and nothing is written. A new
    event is stored by its id and handled by the worker; one seen before is
    acknowledged again and nothing more.
    """
    secrets = settings.stripe_webhook_secrets()
    if not secrets:
        raise PaymentsNotConfigured("No Stripe webhook secret is configured.")
    raw = await request.body()
    try:
        verify(raw, stripe_signature, secrets)
    except InvalidSignature as error:
        raise InvalidWebhookSignature(str(error)) from error
    try:
        event = json.loads(raw)
    except ValueError as error:
        raise InvalidWebhookPayload from error
    if not events.is_event(event):
        raise InvalidWebhookPayload
    stored = await events.store(session, event)
    return WebhookAnswer(duplicate=not stored)
