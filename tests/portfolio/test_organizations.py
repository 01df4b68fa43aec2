"""The organization, its members and roles, and its audit log."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import Email, OrganizationMembership
from asset_anchor.settings import Settings
from tests.portfolio.conftest import (
    Account,
    create_property,
    make_landlord,
    ok,
)


def org_path(account: Account, rest: str = "") -> str:
    return f"/api/v1/organizations/{account.organization_id}{rest}"


async def team(db: AsyncSession, settings: Settings) -> tuple[Account, Account]:
    owner = await make_landlord(db, settings, full_name="Olive Owner")
    manager = await make_landlord(
        db,
        settings,
        organization_id=owner.organization_id,
        role="manager",
        full_name="Milo Manager",
    )
    return owner, manager


class TestReadAndUpdate:
    async def test_staff_read_their_organization(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        answer = ok(await api.get(org_path(owner), headers=manager.headers))

        assert answer["id"] == str(owner.organization_id)
        assert answer["default_currency"] == "USD"
        assert answer["contact_email"] == "office@riley.example.test"

    async def test_the_owner_changes_details_and_the_change_is_audited(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)

        updated = ok(
            await api.patch(
                org_path(owner),
                json={
                    "name": "Riley Property Group",
                    "contact_phone": "+1 503 555 0142",
                    "default_currency": "cad",
                    "contact_email": None,
                },
                headers=owner.headers,
            )
        )
        log = ok(await api.get(org_path(owner, "/audit-events"), headers=owner.headers))

        assert updated["name"] == "Riley Property Group"
        assert updated["default_currency"] == "CAD"
        assert updated["contact_email"] is None
        [event] = log["items"]
        assert event["action"] == "organization.updated"
        assert event["actor_name"] == "Olive Owner"
        assert event["changes"]["default_currency"] == {"from": "USD", "to": "CAD"}
        assert event["changes"]["contact_email"]["to"] is None

    async def test_a_manager_cannot_change_the_organization(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        answer = await api.patch(
            org_path(owner), json={"name": "Taken Over"}, headers=manager.headers
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "owner_only"
        assert ok(await api.get(org_path(owner), headers=owner.headers))["name"] != (
            "Taken Over"
        )

    async def test_the_currency_must_be_one_the_platform_settles_in(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)

        answer = await api.patch(
            org_path(owner), json={"default_currency": "XTS"}, headers=owner.headers
        )

        assert answer.status_code == 422

    async def test_the_owner_sets_when_rent_is_charged_and_reminded(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)
        before = ok(await api.get(org_path(owner), headers=owner.headers))

        updated = ok(
            await api.patch(
                org_path(owner),
                json={"rent_charge_days_ahead": 10, "rent_reminder_days_before": 0},
                headers=owner.headers,
            )
        )
        too_far = await api.patch(
            org_path(owner), json={"rent_charge_days_ahead": 61}, headers=owner.headers
        )

        assert (
            before["rent_charge_days_ahead"],
            before["rent_reminder_days_before"],
        ) == (
            7,
            3,
        )
        assert updated["rent_charge_days_ahead"] == 10
        assert updated["rent_reminder_days_before"] == 0
        assert too_far.status_code == 422

    async def test_the_new_currency_prices_new_units(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)
        ok(
            await api.patch(
                org_path(owner), json={"default_currency": "EUR"}, headers=owner.headers
            )
        )
        prop = await create_property(api, owner)

        unit = ok(
            await api.post(
                f"/api/v1/properties/{prop['id']}/units",
                json={"label": "1"},
                headers=owner.headers,
            ),
            201,
        )

        assert unit["currency"] == "EUR"


class TestMembers:
    async def test_the_owner_is_listed_first(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        members = ok(
            await api.get(org_path(owner, "/members"), headers=manager.headers)
        )

        assert [(m["full_name"], m["role"]) for m in members["items"]] == [
            ("Olive Owner", "owner"),
            ("Milo Manager", "manager"),
        ]

    async def test_a_removed_manager_loses_access_at_once_and_is_told(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)
        before = await api.get("/api/v1/properties", headers=manager.headers)

        removed = await api.delete(
            org_path(owner, f"/members/{manager.user_id}"), headers=owner.headers
        )
        after = await api.get("/api/v1/properties", headers=manager.headers)

        assert before.status_code == 200
        assert removed.status_code == 204
        assert after.status_code == 403
        assert after.json()["code"] == "organization_required"
        [notice] = list(
            await db.scalars(
                select(Email).where(
                    Email.to_address == manager.email,
                    Email.kind == "membership_ended",
                )
            )
        )
        assert notice.context["left"] is False
        assert notice.context["remover_name"] == "Olive Owner"

    async def test_a_manager_cannot_remove_another_manager(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)
        other = await make_landlord(
            db, settings, organization_id=owner.organization_id, role="manager"
        )

        answer = await api.delete(
            org_path(owner, f"/members/{other.user_id}"), headers=manager.headers
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "owner_only"

    async def test_a_manager_may_leave(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        answer = await api.delete(
            org_path(owner, f"/members/{manager.user_id}"), headers=manager.headers
        )

        assert answer.status_code == 204
        assert (
            await db.scalar(
                select(OrganizationMembership).where(
                    OrganizationMembership.user_id == manager.user_id
                )
            )
            is None
        )

    async def test_the_owner_cannot_leave_before_handing_over(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)

        answer = await api.delete(
            org_path(owner, f"/members/{owner.user_id}"), headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "owner_cannot_leave"

    async def test_someone_outside_the_organization_is_not_a_member(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)
        stranger = await make_landlord(db, settings)

        answer = await api.delete(
            org_path(owner, f"/members/{stranger.user_id}"), headers=owner.headers
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "member_not_found"


class TestOwnership:
    async def test_ownership_moves_to_a_manager_and_the_owner_stays_on(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        members = ok(
            await api.post(
                org_path(owner, "/ownership"),
                json={"user_id": str(manager.user_id)},
                headers=owner.headers,
            )
        )
        now_refused = await api.patch(
            org_path(owner), json={"name": "Still Mine"}, headers=owner.headers
        )
        now_allowed = await api.patch(
            org_path(owner), json={"name": "Milo's Now"}, headers=manager.headers
        )

        assert [(m["full_name"], m["role"]) for m in members["items"]] == [
            ("Milo Manager", "owner"),
            ("Olive Owner", "manager"),
        ]
        assert now_refused.status_code == 403
        assert now_allowed.status_code == 200
        [notice] = list(
            await db.scalars(
                select(Email).where(
                    Email.to_address == manager.email,
                    Email.kind == "ownership_transferred",
                )
            )
        )
        assert notice.context["previous_owner_name"] == "Olive Owner"

    async def test_a_manager_cannot_take_ownership(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        answer = await api.post(
            org_path(owner, "/ownership"),
            json={"user_id": str(manager.user_id)},
            headers=manager.headers,
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "owner_only"

    async def test_ownership_goes_only_to_a_member(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)
        stranger = await make_landlord(db, settings)

        answer = await api.post(
            org_path(owner, "/ownership"),
            json={"user_id": str(stranger.user_id)},
            headers=owner.headers,
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "member_not_found"


class TestAuditLog:
    async def test_only_the_owner_reads_it(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)

        answer = await api.get(
            org_path(owner, "/audit-events"), headers=manager.headers
        )

        assert answer.status_code == 403
        assert answer.json()["code"] == "owner_only"

    async def test_it_names_the_actor_the_fields_and_the_request(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, manager = await team(db, settings)
        prop = await create_property(api, manager)
        await api.patch(
            f"/api/v1/properties/{prop['id']}",
            json={"name": "Renamed"},
            headers={**owner.headers, "X-Request-ID": "rename-req-1"},
        )

        log = ok(
            await api.get(
                org_path(owner, "/audit-events"),
                params={"entity_id": prop["id"]},
                headers=owner.headers,
            )
        )

        assert [(e["action"], e["actor_name"]) for e in log["items"]] == [
            ("property.updated", "Olive Owner"),
            ("property.created", "Milo Manager"),
        ]
        assert log["items"][0]["request_id"] == "rename-req-1"
        assert log["items"][0]["changes"] == {
            "name": {"from": "Maple Court", "to": "Renamed"}
        }

    async def test_another_organizations_events_never_show(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)
        stranger = await make_landlord(db, settings)
        await create_property(api, stranger)

        mine = ok(
            await api.get(org_path(owner, "/audit-events"), headers=owner.headers)
        )
        theirs = await api.get(
            org_path(stranger, "/audit-events"), headers=owner.headers
        )

        assert mine["items"] == []
        assert theirs.status_code == 404

    async def test_it_pages_newest_first(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner, _ = await team(db, settings)
        for name in ("One", "Two", "Three"):
            await create_property(api, owner, name=name)

        first = ok(
            await api.get(
                org_path(owner, "/audit-events"),
                params={"limit": 2},
                headers=owner.headers,
            )
        )
        rest = ok(
            await api.get(
                org_path(owner, "/audit-events"),
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=owner.headers,
            )
        )

        names = [e["changes"]["name"]["to"] for e in first["items"] + rest["items"]]
        assert names == ["Three", "Two", "One"]
        assert rest["next_cursor"] is None
