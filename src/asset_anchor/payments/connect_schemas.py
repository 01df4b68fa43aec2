"""Request and response bodies of an organization's Stripe Connect account."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from asset_anchor.kit.fields import Body

_FEE = (
    "The platform's fee on each online payment, in basis points (hundredths of"
    " a percent: 250 is 2.5 %); set by the platform's administrators."
)


class OnboardingLinkOut(BaseModel):
    url: str = Field(
        description="Send the owner there to give Stripe the business's details."
    )
    expires_at: datetime = Field(
        description="The link works once and only until then; ask for a new one after."
    )


class StripeConnectionOut(BaseModel):
    connected: bool = Field(
        description="A Stripe account is held and has not been disconnected."
        " Tenants can pay online once `charges_enabled` is true as well."
    )
    account_id: str | None = Field(
        description="The organization's Stripe account, kept after a"
        " disconnection for the record."
    )
    charges_enabled: bool = Field(description="Stripe lets the account take payments.")
    payouts_enabled: bool = Field(
        description="Stripe pays the account's money out to its bank."
    )
    details_submitted: bool = Field(
        description="The owner has finished Stripe's onboarding form."
    )
    disconnected_at: datetime | None = Field(
        description="When the account was disconnected from the platform; the"
        " next onboarding makes a new account."
    )
    platform_fee_bps: int = Field(description=_FEE)


class AdminOrganizationUpdate(Body):
    platform_fee_bps: int = Field(ge=0, le=10_000, description=_FEE)


class AdminOrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    platform_fee_bps: int = Field(description=_FEE)
