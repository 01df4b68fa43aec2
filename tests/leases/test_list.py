"""The organization's leases: filters, orders, cursor pages, statement count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.leases.factories import active_lease, draft_lease, many_leases
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    ok,
    statements_run,
)


async def listed(
    api: httpx.AsyncClient, owner: Account, **params: Any
) -> dict[str, Any]:
    answer = await api.get("/api/v1/leases", params=params, headers=owner.headers)
    return ok(answer)  # type: ignore[no-any-return]


async def listed_ids(
    api: httpx.AsyncClient, owner: Account, **params: Any
) -> list[str]:
    return [item["id"] for item in (await listed(api, owner, **params))["items"]]


class TestListShape:
    async def test_an_item_carries_its_unit_property_and_tenants(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(
            api,
            owner,
            unit["id"],
            tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        )

        page = await listed(api, owner)

        assert page["next_cursor"] is None
        (item,) = page["items"]
        assert item == {
            "id": lease["id"],
            "status": "draft",
            "unit": {"id": unit["id"], "label": unit["label"]},
            "property": {"id": unit["property_id"], "name": "Maple Court"},
            "tenants": [
                {"id": t["id"], "full_name": t["full_name"]} for t in lease["tenants"]
            ],
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "rent_amount": 150_000,
            "currency": "USD",
            "due_day": 1,
            "created_at": lease["created_at"],
        }

    async def test_an_organization_with_no_leases_lists_none(
        self, api: httpx.AsyncClient, owner: Account
    ) -> None:
        assert await listed(api, owner) == {"items": [], "next_cursor": None}


class TestListFilters:
    async def test_statuses_can_be_combined(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        draft = await draft_lease(
            api, owner, unit["id"], start_date="2030-01-01", end_date=None
        )
        active = await active_lease(api, owner, unit["id"])
        ended = await active_lease(
            api, owner, unit["id"], start_date="2020-01-01", end_date="2020-12-31"
        )
        ok(
            await api.post(
                f"/api/v1/leases/{ended['id']}/end", json={}, headers=owner.headers
            )
        )

        found = await listed_ids(api, owner, status=["draft", "active"])

        assert sorted(found) == sorted([draft["id"], active["id"]])
        assert await listed_ids(api, owner, status="ended") == [ended["id"]]

    async def test_all_statuses_are_listed_by_default(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        draft = await draft_lease(
            api, owner, unit["id"], start_date="2030-01-01", end_date=None
        )
        active = await active_lease(api, owner, unit["id"])

        assert await listed_ids(api, owner) == [active["id"], draft["id"]]

    async def test_an_unknown_status_is_a_validation_error(
        self, api: httpx.AsyncClient, owner: Account
    ) -> None:
        answer = await api.get(
            "/api/v1/leases", params={"status": "pending"}, headers=owner.headers
        )

        assert answer.status_code == 422

    async def test_filter_by_property_and_by_unit(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        here = await draft_lease(api, owner, unit["id"])
        elsewhere = await create_property(api, owner, name="Birch Row")
        other_unit = await create_unit(api, owner, elsewhere["id"])
        there = await draft_lease(api, owner, other_unit["id"])

        assert await listed_ids(api, owner, property_id=unit["property_id"]) == [
            here["id"]
        ]
        assert await listed_ids(api, owner, unit_id=other_unit["id"]) == [there["id"]]

    @pytest.fixture
    async def two_places(
        self, api: httpx.AsyncClient, owner: Account
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Sam at Maple Court, Flat 1; Riley Quinn at Birch Row, Loft 9."""
        maple = await create_property(api, owner)
        flat = await create_unit(api, owner, maple["id"], label="Flat 1")
        birch = await create_property(api, owner, name="Birch Row")
        loft = await create_unit(api, owner, birch["id"], label="Loft 9")
        sam = await draft_lease(api, owner, flat["id"], tenants=[{"full_name": "Sam"}])
        riley = await draft_lease(
            api, owner, loft["id"], tenants=[{"full_name": "Riley Quinn"}]
        )
        return sam, riley

    @pytest.mark.parametrize("q", ["quinn", "QUINN"])
    async def test_text_matches_a_tenants_name_in_any_case(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        two_places: tuple[dict[str, Any], dict[str, Any]],
        q: str,
    ) -> None:
        assert await listed_ids(api, owner, q=q) == [two_places[1]["id"]]

    async def test_text_matches_the_property_name(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        two_places: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        assert await listed_ids(api, owner, q="maple") == [two_places[0]["id"]]

    async def test_text_matches_the_unit_label(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        two_places: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        assert await listed_ids(api, owner, q="lOfT 9") == [two_places[1]["id"]]

    async def test_text_matching_nothing_lists_nothing(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        two_places: tuple[dict[str, Any], dict[str, Any]],
    ) -> None:
        assert await listed_ids(api, owner, q="Nobody") == []

    async def test_text_wildcards_are_matched_literally(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        await draft_lease(api, owner, unit["id"])

        assert await listed_ids(api, owner, q="%") == []
        assert await listed_ids(api, owner, q="_") == []


class TestListOrder:
    @pytest.fixture
    async def leases(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> list[dict[str, Any]]:
        made = []
        for start, rent in (
            ("2026-03-01", 120_000),
            ("2024-03-01", 180_000),
            ("2025-03-01", 120_000),
            ("2027-03-01", 90_000),
        ):
            made.append(
                await draft_lease(
                    api,
                    owner,
                    unit["id"],
                    start_date=start,
                    end_date=None,
                    rent_amount=rent,
                )
            )
        return made

    async def test_the_earliest_start_comes_first_by_default(
        self, api: httpx.AsyncClient, owner: Account, leases: list[dict[str, Any]]
    ) -> None:
        found = await listed(api, owner)

        starts = [item["start_date"] for item in found["items"]]
        assert starts == ["2024-03-01", "2025-03-01", "2026-03-01", "2027-03-01"]

    async def test_the_latest_start_comes_first_descending(
        self, api: httpx.AsyncClient, owner: Account, leases: list[dict[str, Any]]
    ) -> None:
        found = await listed(api, owner, sort="-start_date")

        starts = [item["start_date"] for item in found["items"]]
        assert starts == ["2027-03-01", "2026-03-01", "2025-03-01", "2024-03-01"]

    async def test_by_rent_with_ties_broken_by_id(
        self, api: httpx.AsyncClient, owner: Account, leases: list[dict[str, Any]]
    ) -> None:
        found = await listed(api, owner, sort="-rent_amount")

        keys = [(item["rent_amount"], item["id"]) for item in found["items"]]
        assert keys == sorted(keys, reverse=True)
        assert [rent for rent, _ in keys] == [180_000, 120_000, 120_000, 90_000]

    async def test_by_creation(
        self, api: httpx.AsyncClient, owner: Account, leases: list[dict[str, Any]]
    ) -> None:
        found = await listed(api, owner, sort="created_at")

        keys = [(item["created_at"], item["id"]) for item in found["items"]]
        assert keys == sorted(keys)
        assert len(keys) == 4

    async def test_an_unknown_order_is_refused(
        self, api: httpx.AsyncClient, owner: Account
    ) -> None:
        answer = await api.get(
            "/api/v1/leases", params={"sort": "tenant"}, headers=owner.headers
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_sort"

    @pytest.mark.parametrize("sort", ["start_date", "-rent_amount", "created_at"])
    async def test_a_cursor_walk_shows_every_lease_once_in_order(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        unit: dict[str, Any],
        leases: list[dict[str, Any]],
        sort: str,
    ) -> None:
        for start in ("2024-03-01", "2026-03-01", "2026-03-01"):
            await draft_lease(api, owner, unit["id"], start_date=start, end_date=None)
        whole = await listed_ids(api, owner, sort=sort, limit=100)

        walked: list[str] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = await listed(api, owner, **params)
            walked.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break

        assert len(whole) == 7
        assert walked == whole

    async def test_a_cursor_of_another_order_is_refused(
        self, api: httpx.AsyncClient, owner: Account, leases: list[dict[str, Any]]
    ) -> None:
        first = await listed(api, owner, limit=1)

        answer = await api.get(
            "/api/v1/leases",
            params={"cursor": first["next_cursor"], "sort": "-start_date"},
            headers=owner.headers,
        )

        assert answer.status_code == 400
        assert answer.json()["code"] == "invalid_cursor"


class TestListStatementCount:
    async def test_a_page_costs_the_same_statements_at_any_size(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        await many_leases(db, owner, unit, 105)

        with statements_run(db) as small:
            one = await listed(api, owner, limit=1)
        with statements_run(db) as large:
            hundred = await listed(api, owner, limit=100)

        assert len(one["items"]) == 1
        assert len(hundred["items"]) == 100
        assert all(len(item["tenants"]) == 2 for item in hundred["items"])
        assert len(large) == len(small)
        # The caller's session, the page, the page's tenants.
        assert len(large) == 3
