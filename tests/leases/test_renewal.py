"""Renewing a lease: a draft successor with the same unit, tenants and terms."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.leases import transitions
from asset_anchor.models import LeaseTenant
from asset_anchor.settings import Settings
from tests.leases.factories import (
    active_lease,
    audit_events,
    draft_lease,
    link_tenant,
)
from tests.portfolio.conftest import Account, make_tenant, ok

LATE_FEE = {
    "grace_days": 3,
    "kind": "percent",
    "flat_amount": None,
    "percent_bps": 500,
    "frequency": "once",
    "cap_amount": 20_000,
}


async def renew(
    api: httpx.AsyncClient, owner: Account, lease_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.post(
        f"/api/v1/leases/{lease_id}/renew", json=body, headers=owner.headers
    )


@pytest.fixture
async def lease(
    api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
) -> dict[str, Any]:
    return await active_lease(
        api,
        owner,
        unit["id"],
        tenants=[
            {"full_name": "Dana Tenant", "email": "dana@example.test"},
            {"full_name": "Ari Tenant", "phone": "+1 503 555 0100"},
        ],
        security_deposit_amount=300_000,
        due_day=3,
        late_fee=LATE_FEE,
        notes="Keys with the neighbour",
    )


class TestRenew:
    async def test_the_renewal_is_a_draft_following_the_lease(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        answer = await renew(api, owner, lease["id"], {})

        renewal = ok(answer, 201)
        assert renewal["status"] == "draft"
        assert renewal["id"] != lease["id"]
        assert renewal["renewed_from_id"] == lease["id"]
        assert renewal["unit"] == lease["unit"]
        assert renewal["start_date"] == "2027-01-01"
        assert renewal["end_date"] == "2027-12-31"

    async def test_the_renewal_copies_the_terms_not_given(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        renewal = ok(await renew(api, owner, lease["id"], {}), 201)

        for field in (
            "rent_amount",
            "currency",
            "due_day",
            "security_deposit_amount",
            "late_fee",
        ):
            assert renewal[field] == lease[field], field
        assert renewal["notes"] is None

    async def test_the_renewal_copies_the_tenants_and_their_accounts(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        person = await make_tenant(db, settings)
        dana = next(t for t in lease["tenants"] if t["full_name"] == "Dana Tenant")
        await link_tenant(db, dana["id"], person.user_id)

        renewal = ok(await renew(api, owner, lease["id"], {}), 201)

        copied = {
            (t.full_name, t.email, t.phone, t.user_id)
            for t in await db.scalars(
                select(LeaseTenant).where(
                    LeaseTenant.lease_id == uuid.UUID(renewal["id"])
                )
            )
        }
        assert copied == {
            ("Dana Tenant", "dana@example.test", None, person.user_id),
            ("Ari Tenant", None, "+1 503 555 0100", None),
        }
        assert {t["id"] for t in renewal["tenants"]}.isdisjoint(
            {t["id"] for t in lease["tenants"]}
        )

    async def test_terms_given_override_the_copied_ones(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        body = {
            "start_date": "2027-02-01",
            "end_date": "2028-01-31",
            "rent_amount": 165_000,
            "due_day": 1,
            "security_deposit_amount": 0,
            "late_fee": {"kind": "none"},
            "currency": "usd",
        }

        renewal = ok(await renew(api, owner, lease["id"], body), 201)

        assert renewal["start_date"] == "2027-02-01"
        assert renewal["end_date"] == "2028-01-31"
        assert renewal["rent_amount"] == 165_000
        assert renewal["due_day"] == 1
        assert renewal["security_deposit_amount"] == 0
        assert renewal["late_fee"]["kind"] == "none"
        assert renewal["currency"] == "USD"

    async def test_a_null_end_date_renews_month_to_month(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        renewal = ok(await renew(api, owner, lease["id"], {"end_date": None}), 201)

        assert renewal["end_date"] is None

    async def test_the_lease_names_its_renewal(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        renewal = ok(await renew(api, owner, lease["id"], {}), 201)

        current = ok(
            await api.get(f"/api/v1/leases/{lease['id']}", headers=owner.headers)
        )
        assert current["renewed_by_id"] == renewal["id"]
        assert current["status"] == "active"

    async def test_an_ended_lease_can_be_renewed(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/end", json={}, headers=owner.headers
            )
        )

        renewal = ok(await renew(api, owner, lease["id"], {}), 201)

        assert renewal["renewed_from_id"] == lease["id"]

    async def test_the_renewal_can_be_activated_once_the_lease_has_run(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        renewal = ok(await renew(api, owner, lease["id"], {}), 201)

        answer = await api.post(
            f"/api/v1/leases/{renewal['id']}/activate", headers=owner.headers
        )

        assert ok(answer)["status"] == "active"

    async def test_renewing_is_audited_on_both_leases(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        lease: dict[str, Any],
    ) -> None:
        renewal = ok(await renew(api, owner, lease["id"], {}), 201)

        renewed = (await audit_events(db, lease["id"]))[-1]
        assert renewed.action == "lease.renewed"
        assert renewed.changes == {"renewed_by_id": {"from": None, "to": renewal["id"]}}
        created = await audit_events(db, renewal["id"])
        assert [e.action for e in created] == ["lease.created"]
        assert created[0].changes["renewed_from_id"] == {
            "from": None,
            "to": lease["id"],
        }
        assert created[0].changes["tenants"]["to"] == ["Ari Tenant", "Dana Tenant"]


class TestRenewRefused:
    async def test_a_lease_is_renewed_only_once(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        first = ok(await renew(api, owner, lease["id"], {}), 201)

        answer = await renew(api, owner, lease["id"], {"start_date": "2027-03-01"})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_already_renewed"
        assert answer.json()["renewed_by_id"] == first["id"]

    async def test_a_raced_second_renewal_is_answered_by_the_unique_index(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        ok(await renew(api, owner, lease["id"], {}), 201)

        # As if another request renewed it between the check and the insert.
        async def not_yet_renewed(*_: object) -> None:
            return None

        monkeypatch.setattr(transitions, "_renewed_by", not_yet_renewed)
        answer = await renew(api, owner, lease["id"], {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_already_renewed"

    async def test_a_deleted_renewal_frees_the_lease_to_be_renewed_again(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        first = ok(await renew(api, owner, lease["id"], {}), 201)
        await api.delete(f"/api/v1/leases/{first['id']}", headers=owner.headers)

        answer = await renew(api, owner, lease["id"], {})

        assert ok(answer, 201)["renewed_from_id"] == lease["id"]

    async def test_a_month_to_month_lease_is_not_renewable(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"], end_date=None)

        answer = await renew(api, owner, lease["id"], {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_renewable"

    async def test_a_draft_is_not_renewable(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await renew(api, owner, lease["id"], {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_renewable"

    async def test_a_terminated_lease_is_not_renewable(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/terminate",
                json={"ended_on": "2026-05-31", "reason": "Moved"},
                headers=owner.headers,
            )
        )

        answer = await renew(api, owner, lease["id"], {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_not_renewable"

    @pytest.mark.parametrize("start_date", ["2026-12-31", "2026-06-01"])
    async def test_a_renewal_starts_after_the_lease_ends(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        lease: dict[str, Any],
        start_date: str,
    ) -> None:
        answer = await renew(api, owner, lease["id"], {"start_date": start_date})

        assert answer.status_code == 422
        assert answer.json()["code"] == "renewal_starts_too_early"

    async def test_a_renewal_ending_before_it_starts_is_refused(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        answer = await renew(api, owner, lease["id"], {"end_date": "2026-12-31"})

        assert answer.status_code == 422
        assert answer.json()["code"] == "lease_dates_invalid"

    async def test_an_inconsistent_late_fee_is_refused(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        answer = await renew(api, owner, lease["id"], {"late_fee": {"kind": "flat"}})

        assert answer.status_code == 422
        assert answer.json()["code"] == "late_fee_invalid"

    @pytest.mark.parametrize("field", ["start_date", "rent_amount", "late_fee"])
    async def test_a_copied_term_cannot_be_nulled(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any], field: str
    ) -> None:
        answer = await renew(api, owner, lease["id"], {field: None})

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["type"] == "null_not_allowed"

    async def test_a_lease_on_an_archived_property_is_not_renewed(
        self, api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
    ) -> None:
        ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/end", json={}, headers=owner.headers
            )
        )
        ok(
            await api.post(
                f"/api/v1/properties/{lease['property']['id']}/archive",
                headers=owner.headers,
            )
        )

        answer = await renew(api, owner, lease["id"], {})

        assert answer.status_code == 409
        assert answer.json()["code"] == "property_archived"
