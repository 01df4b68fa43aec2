"""Request and response bodies of organizations, members and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from asset_anchor.kit.fields import Body, EmailAddress, Name, Phone
from asset_anchor.kit.money import Currency

MailingAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]


class OrganizationOut(BaseModel):
    id: uuid.UUID
    name: str
    contact_email: str | None = Field(description="What tenants see as yours.")
    contact_phone: str | None
    mailing_address: str | None
    default_currency: str = Field(
        description="New units and leases are priced in it unless they say."
    )
    rent_charge_days_ahead: int = Field(
        description="Days before its due date that a rent charge is made."
    )
    rent_reminder_days_before: int = Field(
        description="Days before the due date that tenants are reminded (0: only"
        " on the day)."
    )
    created_at: datetime


class OrganizationUpdate(Body):
    """Only the fields sent change; null clears a contact detail."""

    name: Name | None = None
    contact_email: EmailAddress | None = None
    contact_phone: Phone | None = None
    mailing_address: MailingAddress | None = None
    default_currency: Currency | None = None
    rent_charge_days_ahead: int | None = Field(default=None, ge=0, le=60)
    rent_reminder_days_before: int | None = Field(default=None, ge=0, le=30)


class MemberOut(BaseModel):
    user_id: uuid.UUID
    full_name: str
    email: str
    role: Literal["owner", "manager"]
    joined_at: datetime


class MemberList(BaseModel):
    items: list[MemberOut]


class OwnershipTransferIn(Body):
    user_id: uuid.UUID = Field(description="A manager of the organization.")


class AuditEventOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    actor_id: uuid.UUID | None = Field(description="None for the system itself.")
    actor_name: str | None
    action: str = Field(examples=["lease.activated"])
    entity_type: str = Field(examples=["lease"])
    entity_id: uuid.UUID
    changes: dict[str, Any] = Field(
        description='Each changed field as {"from": old, "to": new}.'
    )
    request_id: str | None
