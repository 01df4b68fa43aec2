"""What the ledger's readers see: statements, the rent roll, the aging.

Every amount is an integer in the currency's minor unit (cents for USD)
beside its ``currency``. These shapes name no staff user and carry no staff
notes: a tenant sees the same statement as the landlord.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from asset_anchor.billing.schemas import EntryType
from asset_anchor.leases.schemas import LeaseStatus

MINOR = "In the currency's minor unit (cents for USD)."
SIGNED = "In minor units; negative means in credit."

ReportFormat = Annotated[
    Literal["json", "csv"],
    Query(
        alias="format",
        description="`csv` answers a download (text/csv) with a header row;"
        " amounts in it are decimal major units beside the currency.",
    ),
]
FromDate = Annotated[
    date | None,
    Query(
        alias="from",
        description="The first day (YYYY-MM-DD); absent: from the beginning.",
    ),
]
ToDate = Annotated[
    date | None,
    Query(
        alias="to",
        description="The last day, included; absent: today at the property, or"
        " the last entry if one is dated later.",
    ),
]


# --- a statement ------------------------------------------------------------


class LinkedEntry(BaseModel):
    """The other half of a reversal: what it undoes, or what undid it."""

    id: uuid.UUID
    entry_type: EntryType
    effective_on: date
    description: str | None
    reason: str | None = Field(description="Why it was reversed, on a reversal.")


class StatementLine(BaseModel):
    id: uuid.UUID
    effective_on: date = Field(description="A charge's due date, a payment's day.")
    entry_type: EntryType
    category: str
    description: str | None
    reason: str | None = Field(description="Why, for a reversal, waiver or refund.")
    method: str | None
    reference: str | None
    period_start: date | None
    period_end: date | None
    source_entry_id: uuid.UUID | None = Field(
        description="The rent of a late fee, the charge a waiver forgives, the"
        " payment a refund gives back."
    )
    amount: int = Field(description=f"Positive. {MINOR}")
    balance_effect_amount: int = Field(
        description="What the line does to the balance: + owed, - paid."
    )
    running_balance_amount: int = Field(description=f"After this line. {SIGNED}")
    reverses: LinkedEntry | None = Field(
        description="On a reversal: the entry it undoes (maybe in another period)."
    )
    reversed_by: LinkedEntry | None = Field(
        description="On an entry that was undone: the reversal, with its reason."
    )


class DepositDeduction(BaseModel):
    description: str | None
    amount: int = Field(description=MINOR)


class DepositDisposition(BaseModel):
    """How a deposit was settled at move-out: released = deducted + applied +
    refunded."""

    disposed_on: date
    released_amount: int = Field(description=f"The deposit held. {MINOR}")
    deducted_amount: int
    deductions: list[DepositDeduction]
    applied_amount: int = Field(description="Paid towards what the tenants owed.")
    refunded_amount: int


class StatementDeposit(BaseModel):
    held_amount: int = Field(
        description=f"Held now, whatever the period; zero once disposed of. {MINOR}"
    )
    dispositions: list[DepositDisposition] = Field(
        description="Empty until move-out; one per settlement, oldest first."
    )


class StatementOut(BaseModel):
    """A lease's ledger over a period, oldest first, with a running balance.

    A reversal is a line of its own on the day it was made and names what it
    undoes; the undone line names its reversal: both stay on the statement.
    """

    lease_id: uuid.UUID
    currency: str
    from_date: date
    to_date: date
    opening_balance_amount: int = Field(description=f"Before from_date. {SIGNED}")
    closing_balance_amount: int = Field(description=f"At to_date. {SIGNED}")
    lines: list[StatementLine]
    deposit: StatementDeposit


class NextDueOut(BaseModel):
    """The rent to pay next: the oldest open rent charge, or the next one to come."""

    due_on: date
    amount: int = Field(
        description="What is open of a rent charge made, or the lease's monthly"
        " rent for one not yet charged (a first or last part month is charged"
        f" prorated). {MINOR}"
    )
    currency: str
    charge_id: uuid.UUID | None = Field(description="Null until the rent is charged.")
    past_due: bool = Field(description="Due before today at the property.")


# --- reports ----------------------------------------------------------------


class ReportLease(BaseModel):
    """Where a report's row is and who lives there."""

    property_id: uuid.UUID
    property_name: str
    unit_id: uuid.UUID
    unit_label: str
    lease_id: uuid.UUID
    lease_status: LeaseStatus
    tenant_names: list[str]
    currency: str


class RentRollRow(ReportLease):
    start_date: date
    end_date: date | None = Field(
        description="The last day: when it ended, or its term's end; null for"
        " month-to-month."
    )
    rent_amount: int = Field(description=f"Monthly rent. {MINOR}")
    opening_balance_amount: int = Field(description=f"Before the month. {SIGNED}")
    charged_amount: int = Field(
        description="Charges due in the month, less charges voided in it."
    )
    paid_amount: int = Field(
        description="Payments and credits received in the month, less their"
        " reversals and refunds in it."
    )
    balance_amount: int = Field(
        description=f"At the month's end: opening + charged - paid. {SIGNED}"
    )


class RentRollTotal(BaseModel):
    currency: str
    leases: int
    rent_amount: int
    opening_balance_amount: int
    charged_amount: int
    paid_amount: int
    balance_amount: int


class RentRollOut(BaseModel):
    month: str = Field(examples=["2026-03"])
    rows: list[RentRollRow]
    totals: list[RentRollTotal] = Field(description="One per currency.")


class AgingRow(ReportLease):
    as_of: date = Field(description="Today at the property.")
    current_amount: int = Field(description=f"Not yet past due. {MINOR}")
    days_1_30_amount: int
    days_31_60_amount: int
    days_61_90_amount: int
    over_90_amount: int
    open_amount: int = Field(description="Everything open: the buckets' sum.")
    unapplied_amount: int = Field(
        description="Paid or credited and not yet applied to a charge."
    )


class AgingTotal(BaseModel):
    currency: str
    leases: int
    current_amount: int
    days_1_30_amount: int
    days_31_60_amount: int
    days_61_90_amount: int
    over_90_amount: int
    open_amount: int
    unapplied_amount: int


class AgingOut(BaseModel):
    rows: list[AgingRow]
    totals: list[AgingTotal] = Field(description="One per currency.")
