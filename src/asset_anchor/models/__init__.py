"""ORM models. Import every model module here so Alembic sees all tables."""

from asset_anchor.models.accounts import (
    AuthSession,
    MfaRecoveryCode,
    RefreshToken,
    SecurityEvent,
    User,
    UserMfa,
    UserToken,
)
from asset_anchor.models.base import Base
from asset_anchor.models.email import Email, EmailSuppression
from asset_anchor.models.idempotency import IdempotencyKey
from asset_anchor.models.organizations import Organization, OrganizationMembership
from asset_anchor.models.outbox import OutboxJob

__all__ = [
    "AuthSession",
    "Base",
    "Email",
    "EmailSuppression",
    "IdempotencyKey",
    "MfaRecoveryCode",
    "Organization",
    "OrganizationMembership",
    "OutboxJob",
    "RefreshToken",
    "SecurityEvent",
    "User",
    "UserMfa",
    "UserToken",
]
