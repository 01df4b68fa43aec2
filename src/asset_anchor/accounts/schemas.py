"""Request and response bodies of the accounts API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    model_validator,
)

from asset_anchor.kit.fields import Body, EmailAddress, Name
from asset_anchor.kit.passwords import MAX_LENGTH as PASSWORD_MAX

# Length rules for new passwords are the strength check's (a clear message);
# the schema only bounds what a request may carry.
NewPassword = Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX)]
AnyPassword = Annotated[str, Field(min_length=1, max_length=1024)]
OpaqueToken = Annotated[str, Field(min_length=1, max_length=512)]
TotpCode = Annotated[str, Field(min_length=6, max_length=12, examples=["123456"])]
# Issued as 16 characters in four groups (19); typed with spaces, up to 32.
RecoveryCode = Annotated[
    str, Field(min_length=16, max_length=32, examples=["k3mf-q7xa-p2zd-w4nr"])
]


class RegisterIn(Body):
    email: EmailAddress
    password: NewPassword
    full_name: Name
    organization_name: Name


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str


class LoginIn(Body):
    email: EmailAddress
    password: AnyPassword


class TokenPair(BaseModel):
    """Signed in."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name
    expires_in: int = Field(description="Seconds until the access token expires.")


class MfaChallengeOut(BaseModel):
    """The password was right; a second factor is needed."""

    mfa_required: Literal[True] = True
    challenge_token: str = Field(description="Send it to `POST /auth/mfa/verify`.")
    expires_in: int


class RefreshIn(Body):
    refresh_token: OpaqueToken


class TokenIn(Body):
    token: OpaqueToken


class ResetRequestIn(Body):
    email: EmailAddress


class ResetConfirmIn(Body):
    token: OpaqueToken
    new_password: NewPassword


class PasswordChangeIn(Body):
    current_password: AnyPassword
    new_password: NewPassword


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    client_address: str | None
    user_agent: str | None
    current: bool


class SessionList(BaseModel):
    items: list[SessionOut]


class MembershipOut(BaseModel):
    organization_id: uuid.UUID
    organization_name: str
    role: Literal["owner", "manager"]


class MeOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    email_verified: bool
    pending_email: str | None = Field(
        description="An address waiting for confirmation before it replaces `email`."
    )
    is_platform_admin: bool
    mfa_enabled: bool
    memberships: list[MembershipOut]
    created_at: datetime


class MeUpdateIn(Body):
    full_name: Name | None = None
    email: EmailAddress | None = Field(
        default=None,
        description="Takes effect once the link sent to the new address is used.",
    )


class SecurityEventOut(BaseModel):
    id: uuid.UUID
    kind: str
    created_at: datetime
    client_address: str | None
    request_id: str | None
    detail: dict[str, Any]


class SecurityEventPage(BaseModel):
    items: list[SecurityEventOut]
    next_cursor: str | None


class MfaSetupOut(BaseModel):
    secret: str = Field(description="Base32, for typing into an authenticator app.")
    otpauth_uri: str = Field(description="The same, as a URI for a QR code.")


class MfaCodeIn(Body):
    code: TotpCode


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once; each works once.")


class SecondFactor(Body):
    """A current authenticator code, or else an unused recovery code."""

    code: TotpCode | None = None
    recovery_code: RecoveryCode | None = None

    @model_validator(mode="after")
    def _one_factor(self) -> SecondFactor:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send either `code` or `recovery_code`")
        return self


class MfaVerifyIn(SecondFactor):
    challenge_token: str = Field(min_length=1, max_length=2048)


class MfaDisableIn(SecondFactor):
    password: AnyPassword


class MfaStatusOut(BaseModel):
    enabled: bool
    recovery_codes_left: int


class AdminUserOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    is_platform_admin: bool
    deactivated: bool
    locked: bool = Field(
        description="Whether sign-in is paused for this account after repeated"
        " failures (a pause of a client address, across accounts, is not shown)."
    )
