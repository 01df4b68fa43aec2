"""Request and response bodies of the rent ledger."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from asset_anchor.kit.fields import Body

Amount = Annotated[
    int,
    Field(
        gt=0,
        le=10**11,
        description="In the lease currency's minor unit (cents for USD).",
    ),
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(description="A check number, a bank transfer's reference, …"),
]
EntryType = Literal["charge", "credit", "payment", "refund"]
ManualChargeCategory = Literal["deposit", "other"]
ManualCreditCategory = Literal["concession", "other"]
OfflineMethod = Literal["cash", "check", "bank_transfer", "other"]


class ChargeIn(Body):
    category: ManualChargeCategory = Field(
        default="other",
        description="Rent and late fees are charged by the schedule; `deposit`"
        " is held money, not income.",
    )
    amount: Amount
    due_on: date
    description: Text


class CreditIn(Body):
    category: ManualCreditCategory = "concession"
    amount: Amount
    effective_on: date | None = Field(
        default=None, description="Defaults to today at the property."
    )
    description: Text


class PaymentIn(Body):
    amount: Amount
    method: OfflineMethod
    received_on: date | None = Field(
        default=None, description="Defaults to today at the property."
    )
    reference: Reference | None = None
    description: Text | None = None


class RefundIn(Body):
    amount: Amount
    method: OfflineMethod | None = Field(
        default=None,
        description="How the money was given back: required for a payment"
        " received offline. Left out for a payment made online, whose refund"
        " goes back the way it was paid (as do `refunded_on` and `reference`).",
    )
    refunded_on: date | None = None
    reference: Reference | None = None
    reason: Text


class ReasonIn(Body):
    reason: Text = Field(description="Why; shown on the statement beside the entry.")


class DeductionIn(Body):
    description: Text = Field(examples=["Carpet cleaning, bedroom 2"])
    amount: Amount


class DispositionIn(Body):
    """What happens to the deposit held at move-out.

    Each deduction becomes a charge paid from the deposit; what is left either
    pays what the tenants still owe (`apply_to_balance`) and is refunded
    beyond that, or is refunded whole.
    """

    deductions: list[DeductionIn] = Field(default_factory=list, max_length=50)
    apply_to_balance: bool = True
    refund_method: OfflineMethod = "bank_transfer"
    refunded_on: date | None = None
    reference: Reference | None = None


class LedgerEntryFields(BaseModel):
    """A ledger entry as anyone who may see it sees it."""

    id: uuid.UUID
    lease_id: uuid.UUID
    entry_type: EntryType
    category: str
    amount: int = Field(description="Positive, in minor units.")
    currency: str
    balance_effect: int = Field(
        description="What the entry does to the balance: + owed, - paid."
    )
    effective_on: date
    period_start: date | None
    period_end: date | None
    source_entry_id: uuid.UUID | None = Field(
        description="The rent charge of a late fee, the charge a waiver forgives,"
        " the payment a refund gives back."
    )
    reverses_id: uuid.UUID | None
    reversed_by_id: uuid.UUID | None
    method: str | None
    reference: str | None
    description: str | None
    reason: str | None
    open_amount: int | None = Field(
        description="A charge's part still unpaid; null for other entries."
    )
    unapplied_amount: int | None = Field(
        description="A payment's or credit's part not yet applied to a charge."
    )
    created_at: datetime


class EntryOut(LedgerEntryFields):
    """A ledger entry as staff see it: with who wrote it."""

    created_by_id: uuid.UUID | None


class BalanceOut(BaseModel):
    lease_id: uuid.UUID
    currency: str
    balance_amount: int = Field(description="Owed; negative means in credit.")
    open_charges_amount: int
    unapplied_amount: int = Field(description="Paid or credited, not yet applied.")
    deposit_held_amount: int


class DispositionOut(BaseModel):
    lease_id: uuid.UUID
    currency: str
    held_amount: int
    deducted_amount: int
    applied_amount: int = Field(description="Paid towards what the tenants owed.")
    refunded_amount: int
    entries: list[EntryOut]


class DepositOut(BaseModel):
    lease_id: uuid.UUID
    currency: str
    held_amount: int = Field(description="Held now; zero once disposed of.")
    entries: list[EntryOut] = Field(
        description="The deposit charged, released, deducted and refunded."
    )
