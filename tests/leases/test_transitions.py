"""The life of a lease: activate, end and terminate, and the steps refused."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.leases.factories import active_lease, audit_events, draft_lease
from tests.portfolio.conftest import Account, ok


async def step(
    api: httpx.AsyncClient,
    owner: Account,
    lease_id: str,
    action: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    return await api.post(
        f"/api/v1/leases/{lease_id}/{action}", json=body, headers=owner.headers
    )


def first_of_the_month_from(today: date) -> date:
    if today.day == 1:
        return today
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


class TestActivate:
    async def test_a_draft_becomes_active(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        active = ok(await step(api, owner, lease["id"], "activate"))

        assert active["status"] == "active"
        assert active["activated_at"] is not None

    async def test_activating_is_audited(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        await step(api, owner, lease["id"], "activate")

        event = (await audit_events(db, lease["id"]))[-1]
        assert event.action == "lease.activated"
        assert event.changes["status"] == {"from": "draft", "to": "active"}
        assert event.changes["activated_at"]["to"] is not None

    async def test_an_active_lease_cannot_be_activated_again(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await step(api, owner, lease["id"], "activate")

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_draft"

    async def test_an_ended_lease_cannot_be_activated(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])
        ok(await step(api, owner, lease["id"], "end", {}))

        answer = await step(api, owner, lease["id"], "activate")

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_draft"

    async def test_a_draft_on_an_archived_unit_cannot_be_activated(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])
        ok(await api.post(f"/api/v1/units/{unit['id']}/archive", headers=owner.headers))

        answer = await step(api, owner, lease["id"], "activate")

        assert answer.status_code == 409
        assert answer.json()["code"] == "unit_archived"

    async def test_an_active_lease_tells_when_rent_is_next_due(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(
            api, owner, unit["id"], start_date="2020-01-01", end_date=None, due_day=1
        )

        today = datetime.now(ZoneInfo("America/Los_Angeles")).date()
        assert lease["next_rent_due_on"] == first_of_the_month_from(today).isoformat()

    async def test_a_lease_past_its_end_date_has_no_rent_to_come(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(
            api, owner, unit["id"], start_date="2020-01-01", end_date="2020-12-31"
        )

        assert lease["next_rent_due_on"] is None


class TestEnd:
    async def test_a_fixed_term_lease_ends_on_its_end_date_by_default(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        ended = ok(await step(api, owner, lease["id"], "end", {}))

        assert ended["status"] == "ended"
        assert ended["ended_on"] == "2026-12-31"
        assert ended["ended_at"] is not None
        assert ended["next_rent_due_on"] is None

    async def test_a_lease_may_end_after_its_end_date(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        ended = ok(
            await step(api, owner, lease["id"], "end", {"ended_on": "2027-01-10"})
        )

        assert ended["ended_on"] == "2027-01-10"

    async def test_ending_before_the_end_date_is_a_termination(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await step(api, owner, lease["id"], "end", {"ended_on": "2026-06-30"})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_ends_early"

    async def test_a_month_to_month_lease_needs_the_day_it_ends(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"], end_date=None)

        answer = await step(api, owner, lease["id"], "end", {})

        assert answer.status_code == 422
        assert answer.json()["code"] == "ended_on_required"

    async def test_a_month_to_month_lease_ends_on_the_day_given(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"], end_date=None)

        ended = ok(
            await step(api, owner, lease["id"], "end", {"ended_on": "2026-03-31"})
        )

        assert ended["status"] == "ended"
        assert ended["ended_on"] == "2026-03-31"

    async def test_a_lease_cannot_end_before_it_starts(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"], end_date=None)

        answer = await step(api, owner, lease["id"], "end", {"ended_on": "2025-12-31"})

        assert answer.status_code == 422
        assert answer.json()["code"] == "lease_dates_invalid"

    @pytest.mark.parametrize("prior", ["draft", "ended"])
    async def test_only_an_active_lease_can_end(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any], prior: str
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])
        if prior == "ended":
            ok(await step(api, owner, lease["id"], "activate"))
            ok(await step(api, owner, lease["id"], "end", {}))

        answer = await step(api, owner, lease["id"], "end", {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_active"

    async def test_ending_is_audited(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        await step(api, owner, lease["id"], "end", {})

        event = (await audit_events(db, lease["id"]))[-1]
        assert event.action == "lease.ended"
        assert event.changes["status"] == {"from": "active", "to": "ended"}
        assert event.changes["ended_on"] == {"from": None, "to": "2026-12-31"}


class TestTerminate:
    async def test_an_active_lease_is_terminated_early_with_its_reason(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        ended = ok(
            await step(
                api,
                owner,
                lease["id"],
                "terminate",
                {"ended_on": "2026-06-30", "reason": "Job moved abroad"},
            )
        )

        assert ended["status"] == "terminated"
        assert ended["ended_on"] == "2026-06-30"
        assert ended["termination_reason"] == "Job moved abroad"
        assert ended["ended_at"] is not None

    async def test_a_lease_cannot_be_terminated_before_it_starts(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await step(
            api,
            owner,
            lease["id"],
            "terminate",
            {"ended_on": "2025-12-31", "reason": "Never moved in"},
        )

        assert answer.status_code == 422
        assert answer.json()["code"] == "lease_dates_invalid"

    @pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
    async def test_the_reason_is_required_and_bounded(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any], reason: str
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await step(
            api,
            owner,
            lease["id"],
            "terminate",
            {"ended_on": "2026-06-30", "reason": reason},
        )

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["loc"] == ["body", "reason"]

    async def test_a_draft_cannot_be_terminated(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await step(
            api,
            owner,
            lease["id"],
            "terminate",
            {"ended_on": "2026-06-30", "reason": "No"},
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_active"

    async def test_a_terminated_lease_cannot_be_ended(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])
        ok(
            await step(
                api,
                owner,
                lease["id"],
                "terminate",
                {"ended_on": "2026-06-30", "reason": "Sold"},
            )
        )

        answer = await step(api, owner, lease["id"], "end", {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_active"

    async def test_terminating_is_audited_with_the_reason(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        await step(
            api,
            owner,
            lease["id"],
            "terminate",
            {"ended_on": "2026-06-30", "reason": "Sold"},
        )

        event = (await audit_events(db, lease["id"]))[-1]
        assert event.action == "lease.terminated"
        assert event.changes["termination_reason"] == {"from": None, "to": "Sold"}
        assert event.changes["status"] == {"from": "active", "to": "terminated"}
