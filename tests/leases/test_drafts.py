"""Changing and deleting a draft lease; both are refused once it is active."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.leases.factories import active_lease, audit_events, draft_lease
from tests.portfolio.conftest import Account, ok


async def patch_lease(
    api: httpx.AsyncClient, owner: Account, lease_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.patch(
        f"/api/v1/leases/{lease_id}", json=body, headers=owner.headers
    )


class TestUpdateDraft:
    async def test_only_the_fields_sent_change(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"], notes="Pets allowed")

        changed = ok(
            await patch_lease(
                api, owner, lease["id"], {"rent_amount": 160_000, "due_day": 5}
            )
        )

        assert changed["rent_amount"] == 160_000
        assert changed["due_day"] == 5
        assert changed["start_date"] == lease["start_date"]
        assert changed["end_date"] == lease["end_date"]
        assert changed["notes"] == "Pets allowed"

    async def test_the_late_fee_is_replaced_as_a_whole(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(
            api,
            owner,
            unit["id"],
            late_fee={"kind": "flat", "flat_amount": 5_000, "grace_days": 10},
        )

        changed = ok(
            await patch_lease(
                api,
                owner,
                lease["id"],
                {"late_fee": {"kind": "percent", "percent_bps": 500}},
            )
        )

        assert changed["late_fee"] == {
            "grace_days": 5,
            "kind": "percent",
            "flat_amount": None,
            "percent_bps": 500,
            "frequency": "once",
            "cap_amount": None,
        }

    async def test_a_null_end_date_makes_the_lease_month_to_month(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        changed = ok(await patch_lease(api, owner, lease["id"], {"end_date": None}))

        assert changed["end_date"] is None

    async def test_a_change_is_audited_with_the_fields_changed(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        ok(await patch_lease(api, owner, lease["id"], {"rent_amount": 160_000}))

        updated = [
            e
            for e in await audit_events(db, lease["id"])
            if e.action == "lease.updated"
        ]
        assert len(updated) == 1
        assert updated[0].changes == {"rent_amount": {"from": 150_000, "to": 160_000}}
        assert updated[0].actor_id == owner.user_id

    async def test_sending_the_same_values_records_nothing(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        ok(
            await patch_lease(
                api, owner, lease["id"], {"rent_amount": lease["rent_amount"]}
            )
        )

        actions = [e.action for e in await audit_events(db, lease["id"])]
        assert actions == ["lease.created"]

    async def test_a_start_after_the_end_date_is_refused(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await patch_lease(
            api, owner, lease["id"], {"start_date": "2027-01-01"}
        )

        assert answer.status_code == 422
        assert answer.json()["code"] == "lease_dates_invalid"

    async def test_an_inconsistent_late_fee_is_refused(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await patch_lease(
            api, owner, lease["id"], {"late_fee": {"kind": "flat"}}
        )

        assert answer.status_code == 422
        assert answer.json()["code"] == "late_fee_invalid"

    @pytest.mark.parametrize(
        "field",
        [
            "start_date",
            "rent_amount",
            "currency",
            "due_day",
            "security_deposit_amount",
            "late_fee",
        ],
    )
    async def test_a_required_field_cannot_be_nulled(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any], field: str
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await patch_lease(api, owner, lease["id"], {field: None})

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["loc"] == ["body", field]
        assert answer.json()["errors"][0]["type"] == "null_not_allowed"

    @pytest.mark.parametrize("field", ["status", "unit_id", "organization_id"])
    async def test_a_field_that_cannot_be_patched_is_refused(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any], field: str
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await patch_lease(api, owner, lease["id"], {field: "active"})

        assert answer.status_code == 422
        assert ["body", field] in [error["loc"] for error in answer.json()["errors"]]

    async def test_an_active_lease_cannot_be_changed(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await patch_lease(api, owner, lease["id"], {"rent_amount": 1})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_draft"
        current = ok(
            await api.get(f"/api/v1/leases/{lease['id']}", headers=owner.headers)
        )
        assert current["rent_amount"] == 150_000


class TestDeleteDraft:
    async def test_a_draft_is_deleted_with_its_tenants(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await api.delete(
            f"/api/v1/leases/{lease['id']}", headers=owner.headers
        )

        assert answer.status_code == 204
        gone = await api.get(f"/api/v1/leases/{lease['id']}", headers=owner.headers)
        assert gone.status_code == 404
        assert gone.json()["code"] == "lease_not_found"

    async def test_deleting_is_audited(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        await api.delete(f"/api/v1/leases/{lease['id']}", headers=owner.headers)

        events = await audit_events(db, lease["id"])
        assert [e.action for e in events] == ["lease.created", "lease.deleted"]
        assert events[1].changes["unit_id"] == {"from": unit["id"]}

    async def test_an_active_lease_cannot_be_deleted(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await api.delete(
            f"/api/v1/leases/{lease['id']}", headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_draft"

    async def test_a_missing_lease_is_not_found(
        self, api: httpx.AsyncClient, owner: Account
    ) -> None:
        answer = await api.delete(
            "/api/v1/leases/00000000-0000-4000-8000-000000000000", headers=owner.headers
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_not_found"
