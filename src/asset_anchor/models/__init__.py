"""ORM models. Import every model module here so Alembic sees all tables."""

from asset_anchor.models.base import Base
from asset_anchor.models.email import Email, EmailSuppression
from asset_anchor.models.idempotency import IdempotencyKey
from asset_anchor.models.outbox import OutboxJob

__all__ = ["Base", "Email", "EmailSuppression", "IdempotencyKey", "OutboxJob"]
