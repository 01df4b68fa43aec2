"""The tenant portal: a signed-in tenant sees the leases they are on, and
only what a tenant should see of them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import Organization
from asset_anchor.settings import Settings
from tests.leases.factories import (
    active_lease,
    draft_lease,
    link_tenant,
    many_leases,
)
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
    make_tenant,
    ok,
    statements_run,
)


async def my_leases(api: httpx.AsyncClient, caller: Account, **params: Any) -> Any:
    return ok(await api.get("/api/v1/me/leases", params=params, headers=caller.headers))


def tenant_named(lease: dict[str, Any], name: str) -> str:
    return str(next(t["id"] for t in lease["tenants"] if t["full_name"] == name))


@pytest.fixture
async def person(db: AsyncSession, settings: Settings) -> Account:
    return await make_tenant(db, settings, full_name="Dana Tenant")


@pytest.fixture
async def lease(
    api: httpx.AsyncClient,
    db: AsyncSession,
    owner: Account,
    unit: dict[str, Any],
    person: Account,
) -> dict[str, Any]:
    """An active lease with the caller (Dana) and a co-tenant (Ari) on it."""
    made = await active_lease(
        api,
        owner,
        unit["id"],
        tenants=[
            {"full_name": "Dana Tenant", "email": "dana@example.test"},
            {
                "full_name": "Ari Tenant",
                "email": "ari@example.test",
                "phone": "+1 503 555 0100",
            },
        ],
        security_deposit_amount=300_000,
        late_fee={"kind": "flat", "flat_amount": 5_000},
        notes="Internal: pays late",
    )
    await link_tenant(db, tenant_named(made, "Dana Tenant"), person.user_id)
    return made


class TestMyLeaseList:
    async def test_someone_on_no_lease_gets_an_empty_list(
        self, api: httpx.AsyncClient, person: Account
    ) -> None:
        assert await my_leases(api, person) == {"items": [], "next_cursor": None}

    async def test_the_caller_sees_the_lease_they_are_on(
        self, api: httpx.AsyncClient, person: Account, lease: dict[str, Any]
    ) -> None:
        page = await my_leases(api, person)

        assert [item["id"] for item in page["items"]] == [lease["id"]]

    async def test_leases_of_several_landlords_come_latest_start_first(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        landlord = await make_landlord(db, settings)
        prop = await create_property(api, landlord, name="Harbor Flats")
        their_unit = await create_unit(api, landlord, prop["id"])
        later = await draft_lease(
            api, landlord, their_unit["id"], start_date="2027-06-01", end_date=None
        )
        await link_tenant(db, later["tenants"][0]["id"], person.user_id)

        page = await my_leases(api, person)

        assert [item["id"] for item in page["items"]] == [later["id"], lease["id"]]
        assert [item["status"] for item in page["items"]] == ["draft", "active"]

    async def test_a_staff_member_on_no_lease_sees_none_of_the_organizations(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        assert (await my_leases(api, owner))["items"] == []

    async def test_a_tenant_of_another_lease_does_not_see_this_one(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        unit: dict[str, Any],
        lease: dict[str, Any],
    ) -> None:
        other = await draft_lease(
            api, owner, unit["id"], start_date="2028-01-01", end_date=None
        )
        neighbour = await make_tenant(db, settings)
        await link_tenant(db, other["tenants"][0]["id"], neighbour.user_id)

        page = await my_leases(api, neighbour)

        assert [item["id"] for item in page["items"]] == [other["id"]]

    async def test_a_cursor_walk_shows_every_lease_once(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
        person: Account,
    ) -> None:
        made = await many_leases(db, owner, unit, 7, tenant_user_id=person.user_id)
        whole = [
            item["id"] for item in (await my_leases(api, person, limit=100))["items"]
        ]

        walked: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            page = await my_leases(api, person, **params)
            walked.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert walked == whole
        assert sorted(walked) == sorted(str(lease_id) for lease_id in made)
        starts = [
            item["start_date"] for item in (await my_leases(api, person))["items"]
        ]
        assert starts == sorted(starts, reverse=True)

    async def test_a_page_costs_the_same_statements_at_any_size(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
        person: Account,
    ) -> None:
        await many_leases(db, owner, unit, 105, tenant_user_id=person.user_id)

        with statements_run(db) as small:
            one = await my_leases(api, person, limit=1)
        with statements_run(db) as large:
            hundred = await my_leases(api, person, limit=100)

        assert len(one["items"]) == 1
        assert len(hundred["items"]) == 100
        assert all(
            item["co_tenants"] == [{"full_name": "Second Tenant"}]
            for item in hundred["items"]
        )
        assert len(large) == len(small)
        # The caller's session, the page, the page's co-tenants.
        assert len(large) == 3

    async def test_signing_in_is_required(self, api: httpx.AsyncClient) -> None:
        answer = await api.get("/api/v1/me/leases")

        assert answer.status_code == 401


class TestMyLease:
    async def test_the_lease_shows_its_terms_place_and_landlord(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        await db.execute(
            update(Organization)
            .where(Organization.id == owner.organization_id)
            .values(
                contact_phone="+1 503 555 0199", mailing_address="PO Box 7, Portland"
            )
        )

        mine = ok(
            await api.get(f"/api/v1/me/leases/{lease['id']}", headers=person.headers)
        )

        assert mine["status"] == "active"
        assert mine["start_date"] == "2026-01-01"
        assert mine["end_date"] == "2026-12-31"
        assert mine["rent_amount"] == 150_000
        assert mine["currency"] == "USD"
        assert mine["due_day"] == 1
        assert mine["security_deposit_amount"] == 300_000
        assert mine["late_fee"]["kind"] == "flat"
        assert mine["late_fee"]["flat_amount"] == 5_000
        assert mine["next_rent_due_on"] == lease["next_rent_due_on"]
        assert mine["unit"] == {
            "id": unit["id"],
            "label": unit["label"],
            "bedrooms": 2,
            "bathrooms": None,
            "area": None,
            "area_unit": None,
        }
        assert mine["property"] == {
            "id": unit["property_id"],
            "name": "Maple Court",
            "address": {
                "line1": "12 Maple Street",
                "line2": None,
                "city": "Portland",
                "region": "OR",
                "postal_code": "97201",
                "country": "US",
            },
            "timezone": "America/Los_Angeles",
        }
        assert mine["landlord"]["contact_email"] == "office@riley.example.test"
        assert mine["landlord"]["contact_phone"] == "+1 503 555 0199"
        assert mine["landlord"]["mailing_address"] == "PO Box 7, Portland"
        assert mine["landlord"]["name"].startswith("Riley Homes")

    async def test_co_tenants_appear_by_name_only(
        self, api: httpx.AsyncClient, person: Account, lease: dict[str, Any]
    ) -> None:
        answer = await api.get(
            f"/api/v1/me/leases/{lease['id']}", headers=person.headers
        )

        assert ok(answer)["co_tenants"] == [{"full_name": "Ari Tenant"}]
        assert "ari@example.test" not in answer.text
        assert "555 0100" not in answer.text

    async def test_staff_notes_and_internal_ids_are_not_shown(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        answer = await api.get(
            f"/api/v1/me/leases/{lease['id']}", headers=person.headers
        )

        assert "notes" not in answer.json()
        assert "pays late" not in answer.text
        assert str(owner.user_id) not in answer.text
        assert str(owner.organization_id) not in answer.text
        for tenant in lease["tenants"]:
            assert tenant["id"] not in answer.text

    async def test_a_lease_that_is_over_has_no_rent_to_come(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        person: Account,
        lease: dict[str, Any],
    ) -> None:
        ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/end", json={}, headers=owner.headers
            )
        )

        mine = ok(
            await api.get(f"/api/v1/me/leases/{lease['id']}", headers=person.headers)
        )

        assert mine["status"] == "ended"
        assert mine["next_rent_due_on"] is None

    async def test_a_lease_the_caller_is_not_on_is_not_found(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        lease: dict[str, Any],
    ) -> None:
        stranger = await make_tenant(db, settings)

        answer = await api.get(
            f"/api/v1/me/leases/{lease['id']}", headers=stranger.headers
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"
        assert "Maple Court" not in answer.text

    async def test_the_landlord_is_not_a_tenant_of_their_own_lease(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        answer = await api.get(
            f"/api/v1/me/leases/{lease['id']}", headers=owner.headers
        )

        assert answer.status_code == 404

    async def test_a_missing_lease_is_not_found(
        self, api: httpx.AsyncClient, person: Account
    ) -> None:
        answer = await api.get(
            f"/api/v1/me/leases/{uuid.uuid4()}", headers=person.headers
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"

    async def test_the_portal_cannot_change_a_lease(
        self, api: httpx.AsyncClient, person: Account, lease: dict[str, Any]
    ) -> None:
        answer = await api.patch(
            f"/api/v1/me/leases/{lease['id']}",
            json={"rent_amount": 1},
            headers=person.headers,
        )

        assert answer.status_code == 405
