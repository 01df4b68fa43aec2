"""Refunds of online payments, staff side: where one asked of Stripe stands.

They are asked for on the payment's ledger entry
(``POST /api/v1/entries/{entry_id}/refunds``, see ``billing.endpoints``).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from asset_anchor.accounts.auth import TokenExpiredError
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.organizations.scope import StaffLookup
from asset_anchor.payments import refunds
from asset_anchor.payments.errors import RefundNotFound
from asset_anchor.payments.refund_schemas import RefundRequestOut

router = APIRouter(prefix="/api/v1/refunds", tags=["refunds"])


@router.get(
    "/{refund_id}",
    name="get",
    summary="A refund of an online payment",
    response_model=RefundRequestOut,
    responses=error_responses(Unauthorized, TokenExpiredError, RefundNotFound),
)
async def refunds_get(
    refund_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> RefundRequestOut:
    """Where a refund asked of Stripe stands: the ledger has it once it has
    `succeeded`; a `failed` one says why and refunded nothing. Refunds made
    in Stripe's dashboard show here too, with no `requested_by_id`."""
    return await refunds.read_refund(session, scope, refund_id)
