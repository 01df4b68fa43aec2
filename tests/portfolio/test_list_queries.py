"""A list costs the same number of SQL statements whatever its page size."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.kit.time import utc_now
from asset_anchor.models import Invitation, Lease, Property, Unit
from asset_anchor.settings import Settings
from tests.portfolio.conftest import Account, make_landlord, ok, statements_run

ROWS = 120


async def portfolio(db: AsyncSession, settings: Settings) -> tuple[Account, uuid.UUID]:
    """An organization with more of everything than the largest page holds."""
    owner = await make_landlord(db, settings)
    organization_id = owner.organization_id
    assert organization_id is not None
    properties = [
        Property(
            id=uuid.uuid4(),
            organization_id=organization_id,
            name=f"Property {number:03}",
            kind="single_family",
            address_line1=f"{number} Main Street",
            city="Portland",
            country="US",
            timezone="America/Los_Angeles",
        )
        for number in range(ROWS)
    ]
    db.add_all(properties)
    await db.flush()
    first = properties[0].id
    units = [
        Unit(
            id=uuid.uuid4(),
            organization_id=organization_id,
            property_id=first if number < ROWS else prop.id,
            label=f"Unit {number:03}",
            currency="USD",
        )
        for number, prop in enumerate(properties * 2)
    ]
    db.add_all(units)
    await db.flush()
    lease = Lease(
        id=uuid.uuid4(),
        organization_id=organization_id,
        unit_id=units[0].id,
        property_id=first,
        status="active",
        start_date=date(2026, 1, 1),
        rent_amount=100_000,
        currency="USD",
        due_day=1,
    )
    db.add(lease)
    await db.flush()
    now = utc_now()
    db.add_all(
        Invitation(
            id=uuid.uuid4(),
            organization_id=organization_id,
            kind="manager",
            email=f"manager.{number}@example.test",
            email_normalized=f"manager.{number}@example.test",
            token_hash=uuid.uuid4().bytes + uuid.uuid4().bytes,
            expires_at=now,
            last_sent_at=now,
        )
        for number in range(ROWS)
    )
    for prop in properties:
        audit.record(
            db,
            organization_id=organization_id,
            actor_id=owner.user_id,
            action="property.created",
            entity_type="property",
            entity_id=prop.id,
        )
    await db.flush()
    return owner, first


PATHS: dict[str, Callable[[Account, uuid.UUID], str]] = {
    "properties": lambda owner, first: "/api/v1/properties",
    "units": lambda owner, first: f"/api/v1/properties/{first}/units",
    "invitations": lambda owner, first: "/api/v1/invitations",
    "audit events": lambda owner, first: (
        f"/api/v1/organizations/{owner.organization_id}/audit-events"
    ),
}


@pytest.mark.parametrize("name", PATHS)
async def test_a_page_of_1_and_a_page_of_100_cost_the_same_statements(
    name: str, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> None:
    owner, first = await portfolio(db, settings)
    path = PATHS[name](owner, first)
    counts = {}
    for limit in (1, 100):
        with statements_run(db) as statements:
            page = ok(
                await api.get(path, params={"limit": limit}, headers=owner.headers)
            )
        assert len(page["items"]) == limit
        assert page["next_cursor"] is not None
        counts[limit] = len(statements)

    # The principal's lookup, the page, and for units the property's check.
    assert counts[1] == counts[100]
    assert counts[1] <= 3
