"""Properties and units through the API: writes, archiving, lists, audit."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import AuditEvent, Lease, Property
from asset_anchor.settings import Settings
from tests.portfolio.conftest import (
    PROPERTY,
    create_property,
    create_unit,
    make_landlord,
    ok,
)

PROPERTIES = "/api/v1/properties"


class TestCreateProperty:
    async def test_a_property_is_made_in_the_callers_organization(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)

        made = await create_property(api, owner)

        stored = await db.get(Property, made["id"])
        assert stored is not None
        assert stored.organization_id == owner.organization_id
        assert made["name"] == "Maple Court"
        assert made["address"]["country"] == "US"
        assert made["timezone"] == "America/Los_Angeles"
        assert made["unit_count"] == 0
        assert made["archived_at"] is None

    async def test_the_country_is_upper_cased(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)

        made = await create_property(
            api,
            owner,
            address={**PROPERTY["address"], "country": "ca"},  # type: ignore[dict-item]
        )

        assert made["address"]["country"] == "CA"

    @pytest.mark.parametrize(
        "timezone", ["Mars/Olympus", "../../etc/passwd", "localtime", "UTC+3"]
    )
    async def test_an_unknown_timezone_is_refused(
        self,
        timezone: str,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)

        answer = await api.post(
            PROPERTIES,
            json={**PROPERTY, "timezone": timezone},
            headers=owner.headers,
        )

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["loc"] == ["body", "timezone"]

    @pytest.mark.parametrize(
        "field", ["organization_id", "id", "archived_at", "unit_count"]
    )
    async def test_a_protected_field_is_refused(
        self, field: str, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        other = await make_landlord(db, settings)

        answer = await api.post(
            PROPERTIES,
            json={**PROPERTY, field: str(other.organization_id)},
            headers=owner.headers,
        )

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["loc"] == ["body", field]
        assert (
            await db.scalar(
                select(Property).where(
                    Property.organization_id == other.organization_id
                )
            )
            is None
        )

    async def test_the_write_is_audited(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)

        made = await create_property(api, owner)

        [event] = list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.entity_id == made["id"])
            )
        )
        assert event.action == "property.created"
        assert event.actor_id == owner.user_id
        assert event.organization_id == owner.organization_id
        assert event.changes["name"] == {"from": None, "to": "Maple Court"}
        assert event.request_id is not None


class TestUpdateProperty:
    async def test_only_the_fields_sent_change_and_the_change_is_audited(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)

        answer = await api.patch(
            f"{PROPERTIES}/{made['id']}",
            json={"name": "Maple Court East"},
            headers=owner.headers,
        )

        updated = ok(answer)
        assert updated["name"] == "Maple Court East"
        assert updated["address"] == made["address"]
        event = await db.scalar(
            select(AuditEvent).where(
                AuditEvent.entity_id == made["id"],
                AuditEvent.action == "property.updated",
            )
        )
        assert event is not None
        assert event.changes == {
            "name": {"from": "Maple Court", "to": "Maple Court East"}
        }

    async def test_a_required_field_cannot_be_nulled(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)

        answer = await api.patch(
            f"{PROPERTIES}/{made['id']}", json={"name": None}, headers=owner.headers
        )

        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {
                "loc": ["body", "name"],
                "message": "This field may be left out, but not set to null.",
                "type": "null_not_allowed",
            }
        ]

    async def test_sending_the_same_values_records_nothing(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)

        ok(
            await api.patch(
                f"{PROPERTIES}/{made['id']}",
                json={"name": "Maple Court"},
                headers=owner.headers,
            )
        )

        actions = list(
            await db.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_id == made["id"])
            )
        )
        assert actions == ["property.created"]


async def add_active_lease(
    db: AsyncSession, owner_org: object, unit: dict[str, object]
) -> None:
    db.add(
        Lease(
            organization_id=owner_org,
            unit_id=unit["id"],
            property_id=unit["property_id"],
            status="active",
            start_date=date(2026, 1, 1),
            rent_amount=150_000,
            currency="USD",
            due_day=1,
        )
    )
    await db.flush()


class TestArchiveAndDelete:
    async def test_an_archived_property_leaves_the_default_list(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        kept = await create_property(api, owner, name="Kept")
        gone = await create_property(api, owner, name="Gone")

        archived = ok(
            await api.post(f"{PROPERTIES}/{gone['id']}/archive", headers=owner.headers)
        )
        active = ok(await api.get(PROPERTIES, headers=owner.headers))
        only_archived = ok(
            await api.get(
                PROPERTIES, params={"status": "archived"}, headers=owner.headers
            )
        )

        assert archived["archived_at"] is not None
        assert [p["id"] for p in active["items"]] == [kept["id"]]
        assert [p["id"] for p in only_archived["items"]] == [gone["id"]]

    async def test_an_archived_property_takes_no_new_units(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)
        await api.post(f"{PROPERTIES}/{made['id']}/archive", headers=owner.headers)

        answer = await api.post(
            f"{PROPERTIES}/{made['id']}/units",
            json={"label": "1A"},
            headers=owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "property_archived"

    async def test_a_property_with_an_active_lease_cannot_be_archived(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)
        unit = await create_unit(api, owner, made["id"])
        await add_active_lease(db, owner.organization_id, unit)

        answer = await api.post(
            f"{PROPERTIES}/{made['id']}/archive", headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "unit_has_active_lease"

    async def test_a_property_with_units_is_archived_not_deleted(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)
        await create_unit(api, owner, made["id"])

        answer = await api.delete(f"{PROPERTIES}/{made['id']}", headers=owner.headers)

        assert answer.status_code == 409
        assert answer.json()["code"] == "property_in_use"
        assert await db.get(Property, made["id"]) is not None

    async def test_an_unused_property_is_deleted_and_the_deletion_audited(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)

        answer = await api.delete(f"{PROPERTIES}/{made['id']}", headers=owner.headers)
        again = await api.get(f"{PROPERTIES}/{made['id']}", headers=owner.headers)

        assert answer.status_code == 204
        assert again.status_code == 404
        actions = list(
            await db.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == made["id"])
                .order_by(AuditEvent.created_at)
            )
        )
        assert actions == ["property.created", "property.deleted"]


class TestUnits:
    async def test_a_unit_takes_the_organizations_currency_by_default(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings, currency="JPY")
        made = await create_property(api, owner)

        unit = await create_unit(
            api,
            owner,
            made["id"],
            label="101",
            bathrooms=1.5,
            area=42,
            area_unit="sqm",
            market_rent_amount=98_000,
        )

        assert unit["currency"] == "JPY"
        assert unit["bathrooms"] == 1.5
        assert unit["market_rent_amount"] == 98_000
        listed = ok(await api.get(f"{PROPERTIES}/{made['id']}", headers=owner.headers))
        assert listed["unit_count"] == 1

    async def test_a_label_is_unique_among_a_propertys_units_in_use(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)
        first = await create_unit(api, owner, made["id"], label="2B")

        clash = await api.post(
            f"{PROPERTIES}/{made['id']}/units",
            json={"label": "2B"},
            headers=owner.headers,
        )
        ok(
            await api.post(
                f"/api/v1/units/{first['id']}/archive", headers=owner.headers
            )
        )
        reused = await api.post(
            f"{PROPERTIES}/{made['id']}/units",
            json={"label": "2B"},
            headers=owner.headers,
        )
        unarchive = await api.post(
            f"/api/v1/units/{first['id']}/unarchive", headers=owner.headers
        )

        assert clash.status_code == 409
        assert clash.json()["code"] == "unit_label_taken"
        assert reused.status_code == 201
        assert unarchive.status_code == 409
        assert unarchive.json()["code"] == "unit_label_taken"

    @pytest.mark.parametrize(
        "body",
        [{"area": 40}, {"area_unit": "sqm"}, {"bathrooms": 1.25}, {"bedrooms": -1}],
        ids=["area-without-unit", "unit-without-area", "quarter-bath", "negative"],
    )
    async def test_inconsistent_sizes_are_refused(
        self,
        body: dict[str, object],
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)

        answer = await api.post(
            f"{PROPERTIES}/{made['id']}/units",
            json={"label": "3C", **body},
            headers=owner.headers,
        )

        assert answer.status_code == 422

    async def test_clearing_the_area_alone_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)
        unit = await create_unit(api, owner, made["id"], area=40, area_unit="sqm")

        half = await api.patch(
            f"/api/v1/units/{unit['id']}", json={"area": None}, headers=owner.headers
        )
        both = await api.patch(
            f"/api/v1/units/{unit['id']}",
            json={"area": None, "area_unit": None},
            headers=owner.headers,
        )

        assert half.status_code == 422
        assert half.json()["code"] == "area_unit_required"
        assert ok(both)["area"] is None

    async def test_a_unit_with_an_active_lease_cannot_be_archived_or_deleted(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        made = await create_property(api, owner)
        unit = await create_unit(api, owner, made["id"])
        await add_active_lease(db, owner.organization_id, unit)

        archive = await api.post(
            f"/api/v1/units/{unit['id']}/archive", headers=owner.headers
        )
        delete = await api.delete(f"/api/v1/units/{unit['id']}", headers=owner.headers)

        assert archive.status_code == 409
        assert archive.json()["code"] == "unit_has_active_lease"
        assert delete.status_code == 409
        assert delete.json()["code"] == "unit_in_use"


class TestPropertyList:
    async def test_a_cursor_walk_returns_every_property_once_in_order(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        names = ["Birch", "Alder", "Cedar", "Alder", "Elm"]
        for name in names:
            await create_property(api, owner, name=name)

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 2, "sort": "-name"}
            if cursor:
                params["cursor"] = cursor
            page = ok(await api.get(PROPERTIES, params=params, headers=owner.headers))
            seen += [item["name"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert seen == sorted(names, reverse=True)
        assert pages == 3

    async def test_search_matches_name_or_address_without_wildcards(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        await create_property(api, owner, name="Harbor View")
        await create_property(
            api,
            owner,
            name="Oak Flats",
            address={**PROPERTY["address"], "line1": "9 Harbor Road"},  # type: ignore[dict-item]
        )
        await create_property(api, owner, name="100% Pine")

        harbor = ok(
            await api.get(PROPERTIES, params={"q": "harbor"}, headers=owner.headers)
        )
        percent = ok(
            await api.get(PROPERTIES, params={"q": "%"}, headers=owner.headers)
        )

        assert sorted(p["name"] for p in harbor["items"]) == [
            "Harbor View",
            "Oak Flats",
        ]
        assert [p["name"] for p in percent["items"]] == ["100% Pine"]

    async def test_a_cursor_from_another_order_is_refused(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)
        for name in ("A", "B"):
            await create_property(api, owner, name=name)
        first = ok(
            await api.get(PROPERTIES, params={"limit": 1}, headers=owner.headers)
        )

        answer = await api.get(
            PROPERTIES,
            params={"limit": 1, "sort": "created_at", "cursor": first["next_cursor"]},
            headers=owner.headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_cursor"

    async def test_an_unknown_sort_names_the_choices(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings)

        answer = await api.get(
            PROPERTIES, params={"sort": "password_hash"}, headers=owner.headers
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_sort"
        assert "-name" in answer.json()["allowed"]
