"""Request and response bodies of online payments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from asset_anchor.billing.schemas import Amount
from asset_anchor.kit.fields import Body
from asset_anchor.payments.refund_schemas import RefundRequestOut

OnlineMethod = Literal["card", "us_bank_account"]
OnlineStatus = Literal["pending", "processing", "succeeded", "failed", "canceled"]


class OnlinePaymentIn(Body):
    amount: Amount
    method: OnlineMethod = Field(
        description="`us_bank_account` is an ACH debit: it shows as processing"
        " for a few days before it succeeds or fails."
    )


class OnlinePaymentOut(BaseModel):
    id: uuid.UUID
    lease_id: uuid.UUID
    amount: int
    currency: str
    method: OnlineMethod
    status: OnlineStatus
    failure_message: str | None
    created_at: datetime


class LeaseOnlinePaymentOut(OnlinePaymentOut):
    """An online payment as the organization sees it."""

    payer_id: uuid.UUID | None = Field(description="The tenant who paid.")
    application_fee_amount: int = Field(description="The platform's fee on it.")
    payment_entry_id: uuid.UUID | None = Field(
        description="The ledger's payment, once Stripe said it succeeded; refund"
        " it through `POST /api/v1/entries/{id}/refunds`."
    )
    refunds: list[RefundRequestOut] = Field(
        description="The refunds asked of Stripe, oldest first."
    )


class StartedPaymentOut(OnlinePaymentOut):
    client_secret: str = Field(
        description="Hand it to Stripe.js to collect the card or bank details;"
        " it is never stored."
    )


class WebhookAnswer(BaseModel):
    received: Literal[True] = True
    duplicate: bool = Field(description="The event had been received before.")
