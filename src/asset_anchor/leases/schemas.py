"""Request and response bodies of leases and their tenants."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from asset_anchor.kit.fields import Body, EmailAddress, Name, Phone
from asset_anchor.kit.money import Currency, MinorUnits

LeaseStatus = Literal["draft", "active", "ended", "terminated"]
LateFeeKind = Literal["none", "flat", "percent"]
LateFeeFrequency = Literal["once", "daily"]

MAX_TENANTS = 10

PositiveAmount = Annotated[
    int,
    Field(
        gt=0,
        le=10**12,
        description="Amount in the currency's minor unit (cents for USD), above 0.",
    ),
]
DueDay = Annotated[
    int,
    Field(
        ge=1,
        le=31,
        description="Day of the month rent is due; the month's last day when the "
        "month is shorter.",
    ),
]
Notes = Annotated[str, StringConstraints(max_length=5000)]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]
EndDate = Annotated[
    date | None,
    Field(
        description="The last day of the tenancy (inclusive); null for month-to-month."
    ),
]


class LateFee(Body):
    """What a late payment costs, reckoned from the due date.

    ``flat_amount`` is given exactly when ``kind`` is flat, ``percent_bps``
    exactly when it is percent.
    """

    grace_days: int = Field(
        default=5, ge=0, le=60, description="Days after the due date before it applies."
    )
    kind: LateFeeKind = "none"
    flat_amount: PositiveAmount | None = None
    percent_bps: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Of the rent, in hundredths of a percent (500 is 5%).",
    )
    frequency: LateFeeFrequency = Field(
        default="once", description="Charged once, or every day the rent stays late."
    )
    cap_amount: PositiveAmount | None = Field(
        default=None, description="The most one late payment can cost in all."
    )


class TenantIn(Body):
    full_name: Name
    email: EmailAddress | None = None
    phone: Phone | None = None


class TenantUpdate(Body):
    """Only the fields sent change; null clears the email or phone."""

    full_name: Name | None = None
    email: EmailAddress | None = None
    phone: Phone | None = None


class LeaseIn(Body):
    unit_id: uuid.UUID
    tenants: list[TenantIn] = Field(min_length=1, max_length=MAX_TENANTS)
    start_date: date
    end_date: EndDate = None
    rent_amount: PositiveAmount
    currency: Currency | None = Field(
        default=None, description="Defaults to the organization's currency."
    )
    due_day: DueDay
    security_deposit_amount: MinorUnits = 0
    late_fee: LateFee = Field(default_factory=LateFee)
    notes: Notes | None = None


class LeaseUpdate(Body):
    """Only the fields sent change; ``late_fee`` is replaced as a whole.

    Null clears ``end_date`` (month-to-month) or ``notes``; no other field
    may be null.
    """

    start_date: date | None = None
    end_date: EndDate = None
    rent_amount: PositiveAmount | None = None
    currency: Currency | None = None
    due_day: DueDay | None = None
    security_deposit_amount: MinorUnits | None = None
    late_fee: LateFee | None = None
    notes: Notes | None = None


class LeaseEnd(Body):
    ended_on: date | None = Field(
        default=None,
        description="The last day of the tenancy; defaults to the lease's end "
        "date, and is required for a month-to-month lease.",
    )


class LeaseTerminate(Body):
    ended_on: date = Field(description="The last day of the tenancy.")
    reason: Reason


class LeaseRenew(Body):
    """The renewal's terms; any left out are copied from the lease it renews.

    ``start_date`` defaults to the day after the lease's end date and
    ``end_date`` to a term as long as the renewed one; send ``end_date: null``
    for a month-to-month renewal.
    """

    start_date: date | None = None
    end_date: EndDate = None
    rent_amount: PositiveAmount | None = None
    currency: Currency | None = None
    due_day: DueDay | None = None
    security_deposit_amount: MinorUnits | None = None
    late_fee: LateFee | None = None


class LeaseUnit(BaseModel):
    id: uuid.UUID
    label: str


class LeaseProperty(BaseModel):
    id: uuid.UUID
    name: str


class LeasePropertyDetail(LeaseProperty):
    timezone: str = Field(description="Rent due dates are reckoned in this timezone.")


class TenantName(BaseModel):
    id: uuid.UUID
    full_name: str


class LeaseTenantOut(BaseModel):
    id: uuid.UUID
    full_name: str
    email: str | None
    phone: str | None
    has_account: bool = Field(
        description="Whether the tenant has accepted an invitation and can sign in."
    )


class LeaseSummary(BaseModel):
    id: uuid.UUID
    status: LeaseStatus
    unit: LeaseUnit
    property: LeaseProperty
    tenants: list[TenantName]
    start_date: date
    end_date: date | None
    rent_amount: int = Field(
        description="Monthly rent in the currency's minor unit (cents for USD)."
    )
    currency: str
    due_day: int
    created_at: datetime


class LeaseOut(BaseModel):
    id: uuid.UUID
    status: LeaseStatus
    unit: LeaseUnit
    property: LeasePropertyDetail
    tenants: list[LeaseTenantOut]
    start_date: date
    end_date: date | None
    rent_amount: int = Field(
        description="Monthly rent in the currency's minor unit (cents for USD)."
    )
    currency: str
    due_day: int
    security_deposit_amount: int = Field(
        description="In the currency's minor unit (cents for USD)."
    )
    late_fee: LateFee
    notes: str | None
    next_rent_due_on: date | None = Field(
        description="The next due date from today at the property, within the "
        "lease's dates; null once the lease is over."
    )
    renewed_from_id: uuid.UUID | None = Field(
        description="The lease this one renews, if any."
    )
    renewed_by_id: uuid.UUID | None = Field(
        description="The lease that renews this one, if any."
    )
    activated_at: datetime | None
    ended_on: date | None = Field(description="The last day the tenants held the unit.")
    ended_at: datetime | None
    termination_reason: str | None
    created_at: datetime
