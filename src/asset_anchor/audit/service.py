"""Recording and reading an organization's audit log.

A service that writes landlord-side data records what it did in the same
transaction (``record``), so the log holds exactly the writes that were
saved. Changes are ``{field: {"from": old, "to": new}}`` with JSON values;
``apply_changes`` sets fields on an object and answers that map for the
fields that really changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.logging import current_context
from asset_anchor.models import AuditEvent

Changes = dict[str, dict[str, Any]]


class Staff(Protocol):
    """Who acts: a staff user for their organization (``StaffScope``)."""

    @property
    def organization_id(self) -> uuid.UUID: ...

    @property
    def user_id(self) -> uuid.UUID: ...


def json_value(value: Any) -> Any:
    """A value as the audit log keeps it: JSON, ids and dates as strings."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def apply_changes(target: object, values: Mapping[str, Any]) -> Changes:
    """Set each field on ``target``; the ones whose value changed, from → to."""
    changed: Changes = {}
    for field, new in values.items():
        old = getattr(target, field)
        if old == new:
            continue
        setattr(target, field, new)
        changed[field] = {"from": json_value(old), "to": json_value(new)}
    return changed


def created(target: object, fields: Iterable[str]) -> Changes:
    """The initial values of a new object, as changes from nothing."""
    return {
        field: {"from": None, "to": json_value(getattr(target, field))}
        for field in fields
        if getattr(target, field) is not None
    }


def record(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    changes: Changes | None = None,
) -> None:
    """Add an audit event to the caller's transaction."""
    request_id = current_context().get("request_id")
    session.add(
        AuditEvent(
            id=uuid.uuid4(),
            organization_id=organization_id,
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            changes=changes or {},
            request_id=str(request_id) if request_id is not None else None,
        )
    )


def by_staff(
    session: AsyncSession,
    staff: Staff,
    action: str,
    entity_id: uuid.UUID,
    changes: Changes | None = None,
    *,
    entity_type: str | None = None,
) -> None:
    """Record a staff user's write; the entity's type is the action's first
    word (``lease`` for ``lease.activated``) unless given."""
    record(
        session,
        organization_id=staff.organization_id,
        actor_id=staff.user_id,
        action=action,
        entity_type=entity_type or action.partition(".")[0],
        entity_id=entity_id,
        changes=changes,
    )
