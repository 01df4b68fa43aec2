"""The response body of a refund of an online payment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

RefundStatus = Literal["requested", "pending", "succeeded", "failed", "canceled"]


class RefundRequestOut(BaseModel):
    """A refund of a payment made online: asked of Stripe, in the ledger once
    Stripe says it succeeded."""

    id: uuid.UUID
    payment_entry_id: uuid.UUID | None = Field(
        description="The ledger payment it gives back (part of)."
    )
    lease_id: uuid.UUID
    amount: int = Field(description="In the lease currency's minor unit.")
    currency: str
    reason: str
    status: RefundStatus = Field(
        description="`requested` until it is sent to Stripe, `pending` while"
        " Stripe works on it, then `succeeded` (the ledger has the refund),"
        " `failed` (see `failure_message`; nothing was refunded) or `canceled`."
    )
    failure_message: str | None = Field(description="Why Stripe did not refund.")
    requested_by_id: uuid.UUID | None = Field(
        description="Who asked; null for a refund made in Stripe's dashboard."
    )
    created_at: datetime
    updated_at: datetime
