"""ORM models. Import every model module here so Alembic sees all tables."""

from asset_anchor.models.base import Base
from asset_anchor.models.idempotency import IdempotencyKey

__all__ = ["Base", "IdempotencyKey"]
