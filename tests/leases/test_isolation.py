"""Leases are staff-only and organization-only: anyone else meets a 404.

A member of another organization, a tenant on the lease, and a tenant of
another lease all get nothing from the staff routes, and change nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import Lease, LeaseTenant
from asset_anchor.settings import Settings
from tests.leases.factories import draft_lease, lease_body, link_tenant
from tests.portfolio.conftest import Account, make_landlord, make_tenant, ok

# Every route with a lease id, with a body it would accept from its owner.
ROUTES_WITH_AN_ID: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PATCH", "", {"rent_amount": 1}),
    ("DELETE", "", None),
    ("POST", "/activate", None),
    ("POST", "/end", {"ended_on": "2026-12-31"}),
    ("POST", "/terminate", {"ended_on": "2026-06-30", "reason": "Take it"}),
    ("POST", "/renew", {}),
    ("POST", "/tenants", {"full_name": "Intruder"}),
    ("PATCH", "/tenants/{tenant_id}", {"full_name": "Intruder"}),
    ("DELETE", "/tenants/{tenant_id}", None),
]
# A 404 says no more than that: no field of the lease comes back.
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance", "request_id"}
ROUTE_IDS = [f"{method} {suffix or '/'}" for method, suffix, _ in ROUTES_WITH_AN_ID]


async def call(
    api: httpx.AsyncClient,
    caller: Account,
    lease: dict[str, Any],
    route: tuple[str, str, dict[str, Any] | None],
) -> httpx.Response:
    method, suffix, body = route
    path = suffix.format(tenant_id=lease["tenants"][0]["id"])
    return await api.request(
        method,
        f"/api/v1/leases/{lease['id']}{path}",
        json=body,
        headers=caller.headers,
    )


@pytest.fixture
async def lease(
    api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
) -> dict[str, Any]:
    return await draft_lease(
        api,
        owner,
        unit["id"],
        tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        notes="Internal: pays late",
    )


async def unchanged(db: AsyncSession, lease: dict[str, Any]) -> bool:
    lease_id = uuid.UUID(lease["id"])
    row = (
        await db.execute(
            select(Lease.status, Lease.rent_amount).where(Lease.id == lease_id)
        )
    ).one()
    names = sorted(
        await db.scalars(
            select(LeaseTenant.full_name).where(LeaseTenant.lease_id == lease_id)
        )
    )
    return (row.status, row.rent_amount, names) == (
        "draft",
        lease["rent_amount"],
        ["Ari Tenant", "Dana Tenant"],
    )


class TestAnotherOrganization:
    @pytest.mark.parametrize("route", ROUTES_WITH_AN_ID, ids=ROUTE_IDS)
    async def test_a_member_of_another_organization_gets_a_404(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
        route: tuple[str, str, dict[str, Any] | None],
    ) -> None:
        stranger = await make_landlord(db, settings)

        answer = await call(api, stranger, lease, route)

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"
        assert set(answer.json()) == PROBLEM_KEYS
        assert "Dana Tenant" not in answer.text
        assert await unchanged(db, lease)

    async def test_their_list_leaves_the_lease_out(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
    ) -> None:
        stranger = await make_landlord(db, settings)
        prop = ok(
            await api.post(
                "/api/v1/properties",
                json={
                    "name": "Their Place",
                    "kind": "townhouse",
                    "address": {"line1": "1 Elm", "city": "Salem", "country": "US"},
                    "timezone": "America/Los_Angeles",
                },
                headers=stranger.headers,
            ),
            201,
        )
        their_unit = ok(
            await api.post(
                f"/api/v1/properties/{prop['id']}/units",
                json={"label": "A"},
                headers=stranger.headers,
            ),
            201,
        )
        theirs = await draft_lease(api, stranger, their_unit["id"])

        page = ok(await api.get("/api/v1/leases", headers=stranger.headers))

        assert [item["id"] for item in page["items"]] == [theirs["id"]]
        filtered = ok(
            await api.get(
                "/api/v1/leases",
                params={"unit_id": lease["unit"]["id"]},
                headers=stranger.headers,
            )
        )
        assert filtered["items"] == []

    async def test_a_manager_of_the_same_organization_sees_the_lease(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        manager = await make_landlord(
            db, settings, organization_id=owner.organization_id, role="manager"
        )

        answer = await api.get(f"/api/v1/leases/{lease['id']}", headers=manager.headers)

        assert ok(answer)["id"] == lease["id"]


class TestTenantsOnStaffRoutes:
    @pytest.mark.parametrize("route", ROUTES_WITH_AN_ID, ids=ROUTE_IDS)
    async def test_a_tenant_on_the_lease_gets_a_404_and_changes_nothing(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
        route: tuple[str, str, dict[str, Any] | None],
    ) -> None:
        person = await make_tenant(db, settings)
        await link_tenant(db, lease["tenants"][0]["id"], person.user_id)

        answer = await call(api, person, lease, route)

        assert answer.status_code == 404
        assert set(answer.json()) == PROBLEM_KEYS
        assert await unchanged(db, lease)

    async def test_a_tenant_on_the_lease_may_not_list_the_organizations_leases(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
    ) -> None:
        person = await make_tenant(db, settings)
        await link_tenant(db, lease["tenants"][0]["id"], person.user_id)

        answer = await api.get("/api/v1/leases", headers=person.headers)

        assert answer.status_code == 403
        assert answer.json()["code"] == "organization_required"

    async def test_a_tenant_cannot_draft_a_lease(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
    ) -> None:
        person = await make_tenant(db, settings)
        await link_tenant(db, lease["tenants"][0]["id"], person.user_id)

        answer = await api.post(
            "/api/v1/leases",
            json=lease_body(lease["unit"]["id"]),
            headers=person.headers,
        )

        assert answer.status_code == 403
        others = await db.scalar(
            select(Lease.id).where(
                Lease.unit_id == uuid.UUID(lease["unit"]["id"]),
                Lease.id != uuid.UUID(lease["id"]),
            )
        )
        assert others is None

    @pytest.mark.parametrize("route", ROUTES_WITH_AN_ID, ids=ROUTE_IDS)
    async def test_a_tenant_of_another_lease_gets_a_404(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        unit: dict[str, Any],
        lease: dict[str, Any],
        route: tuple[str, str, dict[str, Any] | None],
    ) -> None:
        other = await draft_lease(api, owner, unit["id"])
        person = await make_tenant(db, settings)
        await link_tenant(db, other["tenants"][0]["id"], person.user_id)

        answer = await call(api, person, lease, route)

        assert answer.status_code == 404
        assert await unchanged(db, lease)

    async def test_signing_in_is_required(
        self, api: httpx.AsyncClient, lease: dict[str, Any]
    ) -> None:
        answer = await api.get(f"/api/v1/leases/{lease['id']}")

        assert answer.status_code == 401
