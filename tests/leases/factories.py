"""Leases for tests, made through the API as the front end would."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import AuditEvent, Lease, LeaseTenant
from tests.portfolio.conftest import Account, ok


def lease_body(unit_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unit_id": unit_id,
        "tenants": [
            {"full_name": "Dana Tenant", "email": "dana@example.test"},
        ],
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "rent_amount": 150_000,
        "due_day": 1,
    }
    body.update(overrides)
    return body


async def draft_lease(
    api: httpx.AsyncClient, owner: Account, unit_id: str, **overrides: Any
) -> dict[str, Any]:
    answer = await api.post(
        "/api/v1/leases", json=lease_body(unit_id, **overrides), headers=owner.headers
    )
    return ok(answer, 201)  # type: ignore[no-any-return]


async def active_lease(
    api: httpx.AsyncClient, owner: Account, unit_id: str, **overrides: Any
) -> dict[str, Any]:
    lease = await draft_lease(api, owner, unit_id, **overrides)
    answer = await api.post(
        f"/api/v1/leases/{lease['id']}/activate", headers=owner.headers
    )
    return ok(answer)  # type: ignore[no-any-return]


async def link_tenant(
    db: AsyncSession, tenant_id: str | uuid.UUID, user_id: uuid.UUID
) -> None:
    """Give a lease's tenant row an account, as accepting an invitation does."""
    await db.execute(
        update(LeaseTenant)
        .where(LeaseTenant.id == uuid.UUID(str(tenant_id)))
        .values(user_id=user_id)
    )


async def audit_events(
    db: AsyncSession, entity_id: str | uuid.UUID
) -> list[AuditEvent]:
    found = await db.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity_id == uuid.UUID(str(entity_id)))
        .order_by(AuditEvent.created_at)
    )
    return list(found)


async def many_leases(
    db: AsyncSession,
    owner: Account,
    unit: dict[str, Any],
    count: int,
    *,
    tenant_user_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """``count`` draft leases with two tenants each, written straight to the
    database (through the API they would take minutes)."""
    assert owner.organization_id is not None
    leases = [
        Lease(
            id=uuid.uuid4(),
            organization_id=owner.organization_id,
            unit_id=uuid.UUID(unit["id"]),
            property_id=uuid.UUID(unit["property_id"]),
            status="draft",
            start_date=date(2020 + index % 10, 1, 1),
            end_date=None,
            rent_amount=100_000 + index,
            currency="USD",
            due_day=1,
        )
        for index in range(count)
    ]
    db.add_all(leases)
    await db.flush()
    db.add_all(
        LeaseTenant(
            id=uuid.uuid4(),
            organization_id=owner.organization_id,
            lease_id=lease.id,
            full_name=name,
            user_id=tenant_user_id if name == "First Tenant" else None,
        )
        for lease in leases
        for name in ("First Tenant", "Second Tenant")
    )
    await db.flush()
    return [lease.id for lease in leases]
