"""What a tenant sees of a lease: its terms, the place, and the landlord.

Nothing here names another user: co-tenants appear by name only, and staff
notes and internal ids of other people stay out.
"""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field

from asset_anchor.billing.report_schemas import NextDueOut
from asset_anchor.billing.schemas import BalanceOut, LedgerEntryFields
from asset_anchor.leases.schemas import LateFee, LeaseStatus
from asset_anchor.properties.schemas import Address, AreaUnit, Bathrooms


class MyLeaseUnit(BaseModel):
    id: uuid.UUID
    label: str
    bedrooms: int | None
    bathrooms: Bathrooms | None
    area: int | None
    area_unit: AreaUnit | None


class MyLeaseProperty(BaseModel):
    id: uuid.UUID
    name: str
    address: Address
    timezone: str = Field(description="Rent due dates are reckoned in this timezone.")


class Landlord(BaseModel):
    """The organization that lets the unit, as it asks to be contacted."""

    name: str
    contact_email: str | None
    contact_phone: str | None
    mailing_address: str | None


class CoTenant(BaseModel):
    full_name: str


class MyLease(BaseModel):
    id: uuid.UUID
    status: LeaseStatus = Field(description="A draft is not yet in force.")
    start_date: date
    end_date: date | None = Field(
        description="The last day of the tenancy; null for month-to-month."
    )
    rent_amount: int = Field(
        description="Monthly rent in the currency's minor unit (cents for USD)."
    )
    currency: str
    due_day: int = Field(
        description="Day of the month rent is due; the month's last day when the "
        "month is shorter."
    )
    security_deposit_amount: int = Field(
        description="In the currency's minor unit (cents for USD)."
    )
    late_fee: LateFee
    next_rent_due_on: date | None = Field(
        description="The next due date from today at the property; null once the "
        "lease is over."
    )
    unit: MyLeaseUnit
    property: MyLeaseProperty
    landlord: Landlord
    co_tenants: list[CoTenant] = Field(
        description="The other people on the lease, by name."
    )


class MyBalance(BalanceOut):
    """What the caller owes on the lease, and the rent to pay next."""

    clearing_amount: int = Field(
        description="Paid online and still clearing (a bank debit takes a few"
        " business days): not yet taken off the balance, and not payable"
        " again. What can be paid now is the balance less this."
    )
    next_due: NextDueOut | None = Field(
        description="Null when no rent is open and none is to come."
    )


class MyEntry(LedgerEntryFields):
    """A ledger entry as a tenant sees it: who on the staff wrote it is not
    shown."""
