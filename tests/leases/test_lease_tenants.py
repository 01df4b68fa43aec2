"""Who is on a lease: adding, correcting and removing its tenants."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.leases.factories import active_lease, audit_events, draft_lease
from tests.portfolio.conftest import Account, ok


def tenants_url(lease: dict[str, Any], tenant_id: str | None = None) -> str:
    url = f"/api/v1/leases/{lease['id']}/tenants"
    return url if tenant_id is None else f"{url}/{tenant_id}"


async def tenant_names(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> list[str]:
    current = ok(await api.get(f"/api/v1/leases/{lease['id']}", headers=owner.headers))
    return sorted(t["full_name"] for t in current["tenants"])


async def end_lease(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> None:
    ok(
        await api.post(
            f"/api/v1/leases/{lease['id']}/end", json={}, headers=owner.headers
        )
    )


class TestAddTenant:
    async def test_a_tenant_is_added_to_the_lease(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await api.post(
            tenants_url(lease),
            json={"full_name": "Ari Tenant", "email": "ari@example.test"},
            headers=owner.headers,
        )

        added = ok(answer, 201)
        assert added["full_name"] == "Ari Tenant"
        assert added["email"] == "ari@example.test"
        assert added["phone"] is None
        assert added["has_account"] is False
        assert await tenant_names(api, owner, lease) == ["Ari Tenant", "Dana Tenant"]

    async def test_an_active_lease_takes_a_new_tenant(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])

        answer = await api.post(
            tenants_url(lease), json={"full_name": "Ari Tenant"}, headers=owner.headers
        )

        assert answer.status_code == 201

    async def test_an_ended_lease_takes_no_new_tenant(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])
        await end_lease(api, owner, lease)

        answer = await api.post(
            tenants_url(lease), json={"full_name": "Ari Tenant"}, headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_closed"

    async def test_a_terminated_lease_takes_no_new_tenant(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(api, owner, unit["id"])
        ok(
            await api.post(
                f"/api/v1/leases/{lease['id']}/terminate",
                json={"ended_on": "2026-02-28", "reason": "Moved"},
                headers=owner.headers,
            )
        )

        answer = await api.post(
            tenants_url(lease), json={"full_name": "Ari Tenant"}, headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_closed"

    async def test_a_lease_holds_at_most_ten_tenants(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(
            api,
            owner,
            unit["id"],
            tenants=[{"full_name": f"Tenant {n}"} for n in range(10)],
        )

        answer = await api.post(
            tenants_url(lease),
            json={"full_name": "One Too Many"},
            headers=owner.headers,
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_tenant_limit"

    async def test_adding_is_audited(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        added = ok(
            await api.post(
                tenants_url(lease),
                json={"full_name": "Ari Tenant"},
                headers=owner.headers,
            ),
            201,
        )

        events = await audit_events(db, added["id"])
        assert [e.action for e in events] == ["lease_tenant.added"]
        assert events[0].entity_type == "lease_tenant"
        assert events[0].changes == {
            "lease_id": {"from": None, "to": lease["id"]},
            "full_name": {"from": None, "to": "Ari Tenant"},
        }


class TestUpdateTenant:
    async def test_the_fields_sent_change_and_null_clears_contact_details(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])
        tenant = lease["tenants"][0]

        answer = await api.patch(
            tenants_url(lease, tenant["id"]),
            json={
                "full_name": "Dana Q. Tenant",
                "email": None,
                "phone": "+1 503 555 0111",
            },
            headers=owner.headers,
        )

        changed = ok(answer)
        assert changed == {
            "id": tenant["id"],
            "full_name": "Dana Q. Tenant",
            "email": None,
            "phone": "+1 503 555 0111",
            "has_account": False,
        }

    async def test_the_name_cannot_be_nulled(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await api.patch(
            tenants_url(lease, lease["tenants"][0]["id"]),
            json={"full_name": None},
            headers=owner.headers,
        )

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["loc"] == ["body", "full_name"]

    async def test_updating_is_audited_with_the_changes(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])
        tenant = lease["tenants"][0]

        await api.patch(
            tenants_url(lease, tenant["id"]),
            json={"email": "dana.new@example.test"},
            headers=owner.headers,
        )

        events = await audit_events(db, tenant["id"])
        assert [e.action for e in events] == ["lease_tenant.updated"]
        assert events[0].changes == {
            "email": {"from": "dana@example.test", "to": "dana.new@example.test"}
        }

    async def test_a_tenant_of_another_lease_is_not_found(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])
        other = await draft_lease(api, owner, unit["id"])

        answer = await api.patch(
            tenants_url(lease, other["tenants"][0]["id"]),
            json={"full_name": "Someone Else"},
            headers=owner.headers,
        )

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_tenant_not_found"


class TestRemoveTenant:
    async def test_a_tenant_is_removed(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(
            api,
            owner,
            unit["id"],
            tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        )
        ari = next(t for t in lease["tenants"] if t["full_name"] == "Ari Tenant")

        answer = await api.delete(tenants_url(lease, ari["id"]), headers=owner.headers)

        assert answer.status_code == 204
        assert await tenant_names(api, owner, lease) == ["Dana Tenant"]

    async def test_the_last_tenant_stays(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await draft_lease(api, owner, unit["id"])

        answer = await api.delete(
            tenants_url(lease, lease["tenants"][0]["id"]), headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_needs_a_tenant"
        assert await tenant_names(api, owner, lease) == ["Dana Tenant"]

    async def test_no_tenant_leaves_a_lease_that_is_over(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = await active_lease(
            api,
            owner,
            unit["id"],
            tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        )
        await end_lease(api, owner, lease)

        answer = await api.delete(
            tenants_url(lease, lease["tenants"][0]["id"]), headers=owner.headers
        )

        assert answer.status_code == 409
        assert answer.json()["code"] == "lease_closed"

    @pytest.mark.parametrize("which", ["other_lease", "unknown"])
    async def test_a_tenant_not_on_this_lease_is_not_found(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any], which: str
    ) -> None:
        lease = await draft_lease(
            api,
            owner,
            unit["id"],
            tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        )
        other = await draft_lease(api, owner, unit["id"])
        tenant_id = (
            other["tenants"][0]["id"]
            if which == "other_lease"
            else "00000000-0000-4000-8000-000000000000"
        )

        answer = await api.delete(tenants_url(lease, tenant_id), headers=owner.headers)

        assert answer.status_code == 404
        assert answer.json()["code"] == "lease_tenant_not_found"
        assert (
            len(
                ok(
                    await api.get(
                        f"/api/v1/leases/{other['id']}", headers=owner.headers
                    )
                )["tenants"]
            )
            == 1
        )

    async def test_removing_is_audited(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = await draft_lease(
            api,
            owner,
            unit["id"],
            tenants=[{"full_name": "Dana Tenant"}, {"full_name": "Ari Tenant"}],
        )
        ari = next(t for t in lease["tenants"] if t["full_name"] == "Ari Tenant")

        await api.delete(tenants_url(lease, ari["id"]), headers=owner.headers)

        events = await audit_events(db, ari["id"])
        assert [e.action for e in events] == ["lease_tenant.removed"]
        assert events[0].changes == {
            "lease_id": {"from": lease["id"]},
            "full_name": {"from": "Ari Tenant"},
        }
