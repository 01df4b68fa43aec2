"""Request and response bodies of invitations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from asset_anchor.accounts.schemas import TokenPair
from asset_anchor.kit.fields import Body, EmailAddress, Name
from asset_anchor.kit.passwords import MAX_LENGTH as PASSWORD_MAX

InvitationKind = Literal["manager", "tenant"]
InvitationStatus = Literal["pending", "accepted", "revoked", "expired"]
InvitationToken = Annotated[str, Field(min_length=1, max_length=512)]


class InvitationIn(Body):
    email: EmailAddress
    full_name: Name | None = Field(
        default=None,
        description="How the email greets them; for a tenant, the name on the lease.",
    )


class InvitationOut(BaseModel):
    id: uuid.UUID
    kind: InvitationKind
    status: InvitationStatus
    email: str
    full_name: str | None
    lease_id: uuid.UUID | None
    lease_tenant_id: uuid.UUID | None
    invited_by_id: uuid.UUID | None
    expires_at: datetime
    last_sent_at: datetime
    send_count: int
    accepted_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class TokenIn(Body):
    token: InvitationToken


class InvitationPreview(BaseModel):
    """What the acceptance page shows before the invitee decides."""

    kind: InvitationKind
    status: InvitationStatus
    email: str
    full_name: str | None
    organization_name: str
    property_name: str | None
    unit_label: str | None
    expires_at: datetime
    account_exists: bool = Field(
        description="Whether the invitee signs in, rather than choosing a password."
    )


class AcceptIn(Body):
    """Signed in: only the token. New to the service: a name and a password too."""

    token: InvitationToken
    full_name: Name | None = Field(
        default=None, description="For a new account; defaults to the invitation's."
    )
    password: Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX)] | None = None


class AcceptOut(BaseModel):
    kind: InvitationKind
    organization_id: uuid.UUID
    lease_id: uuid.UUID | None
    tokens: TokenPair | None = Field(
        description="A session for the account just made; null when signed in."
    )
