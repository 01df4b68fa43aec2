"""ORM models. Import every model module here so Alembic sees all tables."""

from asset_anchor.models.accounts import (
    AuthSession,
    MfaRecoveryCode,
    PendingRegistration,
    RefreshToken,
    SecurityEvent,
    User,
    UserMfa,
    UserToken,
)
from asset_anchor.models.audit import AuditEvent
from asset_anchor.models.base import Base
from asset_anchor.models.email import Email, EmailSuppression
from asset_anchor.models.idempotency import IdempotencyKey
from asset_anchor.models.invitations import Invitation
from asset_anchor.models.ledger import Allocation, BillingNotice, LedgerEntry
from asset_anchor.models.organizations import Organization, OrganizationMembership
from asset_anchor.models.outbox import OutboxJob
from asset_anchor.models.payments import (
    OnlinePayment,
    StripeCheckpoint,
    StripeDispute,
    StripeEvent,
    StripeRefund,
)
from asset_anchor.models.portfolio import Lease, LeaseTenant, Property, Unit

__all__ = [
    "Allocation",
    "AuditEvent",
    "AuthSession",
    "Base",
    "BillingNotice",
    "Email",
    "EmailSuppression",
    "IdempotencyKey",
    "Invitation",
    "Lease",
    "LeaseTenant",
    "LedgerEntry",
    "MfaRecoveryCode",
    "OnlinePayment",
    "Organization",
    "OrganizationMembership",
    "OutboxJob",
    "PendingRegistration",
    "Property",
    "RefreshToken",
    "SecurityEvent",
    "StripeCheckpoint",
    "StripeDispute",
    "StripeEvent",
    "StripeRefund",
    "Unit",
    "User",
    "UserMfa",
    "UserToken",
]
