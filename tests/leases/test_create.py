"""Drafting a lease: defaults, stored links, and what the body may not say."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import Lease, LeaseTenant
from asset_anchor.settings import Settings
from tests.leases.factories import audit_events, lease_body
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
    ok,
)


async def post_lease(
    api: httpx.AsyncClient, owner: Account, body: dict[str, Any]
) -> httpx.Response:
    return await api.post("/api/v1/leases", json=body, headers=owner.headers)


class TestCreateLease:
    async def test_a_new_lease_is_a_draft_with_the_default_terms(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        answer = await post_lease(api, owner, lease_body(unit["id"]))

        lease = ok(answer, 201)
        assert lease["status"] == "draft"
        assert lease["security_deposit_amount"] == 0
        assert lease["late_fee"] == {
            "grace_days": 5,
            "kind": "none",
            "flat_amount": None,
            "percent_bps": None,
            "frequency": "once",
            "cap_amount": None,
        }
        assert lease["unit"] == {"id": unit["id"], "label": unit["label"]}
        assert lease["property"]["id"] == unit["property_id"]
        assert lease["property"]["timezone"] == "America/Los_Angeles"
        assert lease["activated_at"] is None
        assert lease["renewed_from_id"] is None
        assert lease["renewed_by_id"] is None

    async def test_the_currency_defaults_to_the_organizations(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        owner = await make_landlord(db, settings, currency="EUR")
        prop = await create_property(api, owner)
        unit = await create_unit(api, owner, prop["id"])

        lease = ok(await post_lease(api, owner, lease_body(unit["id"])), 201)

        assert lease["currency"] == "EUR"

    async def test_a_currency_given_is_kept_in_upper_case(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        body = lease_body(unit["id"], currency="cad")

        lease = ok(await post_lease(api, owner, body), 201)

        assert lease["currency"] == "CAD"

    async def test_the_lease_keeps_the_units_property_and_its_organization(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = ok(await post_lease(api, owner, lease_body(unit["id"])), 201)

        row = await db.scalar(select(Lease).where(Lease.id == uuid.UUID(lease["id"])))
        assert row is not None
        assert str(row.property_id) == unit["property_id"]
        assert row.organization_id == owner.organization_id
        assert row.created_by_id == owner.user_id

    async def test_tenants_are_made_in_the_leases_organization(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        body = lease_body(
            unit["id"],
            tenants=[
                {"full_name": "Dana Tenant", "email": "dana@example.test"},
                {"full_name": "Ari Tenant", "phone": "+1 503 555 0100"},
            ],
        )

        lease = ok(await post_lease(api, owner, body), 201)

        rows = list(
            await db.scalars(
                select(LeaseTenant).where(
                    LeaseTenant.lease_id == uuid.UUID(lease["id"])
                )
            )
        )
        assert sorted(row.full_name for row in rows) == ["Ari Tenant", "Dana Tenant"]
        assert {row.organization_id for row in rows} == {owner.organization_id}
        assert [t["full_name"] for t in lease["tenants"]] == [
            "Ari Tenant",
            "Dana Tenant",
        ]
        assert all(t["has_account"] is False for t in lease["tenants"])

    async def test_a_flat_late_fee_with_its_amount_is_kept(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        late_fee = {
            "grace_days": 3,
            "kind": "flat",
            "flat_amount": 5_000,
            "frequency": "daily",
            "cap_amount": 25_000,
        }

        lease = ok(
            await post_lease(api, owner, lease_body(unit["id"], late_fee=late_fee)), 201
        )

        assert lease["late_fee"] == {**late_fee, "percent_bps": None}

    async def test_a_month_to_month_lease_has_no_end_date(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        lease = ok(
            await post_lease(api, owner, lease_body(unit["id"], end_date=None)), 201
        )

        assert lease["end_date"] is None

    async def test_creating_is_audited_with_the_terms_and_tenants(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
    ) -> None:
        lease = ok(await post_lease(api, owner, lease_body(unit["id"])), 201)

        (event,) = await audit_events(db, lease["id"])
        assert event.action == "lease.created"
        assert event.entity_type == "lease"
        assert event.organization_id == owner.organization_id
        assert event.actor_id == owner.user_id
        assert event.changes["status"] == {"from": None, "to": "draft"}
        assert event.changes["rent_amount"] == {"from": None, "to": 150_000}
        assert event.changes["unit_id"] == {"from": None, "to": unit["id"]}
        assert event.changes["tenants"] == {"from": None, "to": ["Dana Tenant"]}


class TestCreateLeaseRefusals:
    async def test_an_end_date_before_the_start_date_is_refused(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        body = lease_body(unit["id"], start_date="2026-05-01", end_date="2026-04-30")

        answer = await post_lease(api, owner, body)

        assert answer.status_code == 422
        assert answer.json()["code"] == "lease_dates_invalid"

    async def test_a_one_day_lease_is_allowed(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        body = lease_body(unit["id"], start_date="2026-05-01", end_date="2026-05-01")

        ok(await post_lease(api, owner, body), 201)

    @pytest.mark.parametrize(
        "late_fee",
        [
            {"kind": "flat"},
            {"kind": "percent"},
            {"kind": "none", "flat_amount": 1_000},
            {"kind": "flat", "flat_amount": 1_000, "percent_bps": 500},
            {"kind": "percent", "flat_amount": 1_000},
        ],
        ids=[
            "flat_without_amount",
            "percent_without_bps",
            "amount_without_flat",
            "flat_with_bps",
            "percent_with_amount",
        ],
    )
    async def test_a_late_fee_whose_fields_do_not_fit_its_kind_is_refused(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        unit: dict[str, Any],
        late_fee: dict[str, Any],
    ) -> None:
        answer = await post_lease(api, owner, lease_body(unit["id"], late_fee=late_fee))

        assert answer.status_code == 422
        assert answer.json()["code"] == "late_fee_invalid"

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("due_day", 0),
            ("due_day", 32),
            ("rent_amount", 0),
            ("rent_amount", -100),
            ("security_deposit_amount", -1),
            ("currency", "XYZ"),
            ("tenants", []),
            ("tenants", [{"full_name": f"Tenant {n}"} for n in range(11)]),
            ("tenants", [{"full_name": "Dana", "email": "not an address"}]),
            ("notes", "x" * 5001),
            ("late_fee", {"grace_days": 61}),
            ("late_fee", {"kind": "percent", "percent_bps": 10_001}),
            ("late_fee", {"kind": "flat", "flat_amount": 0}),
            ("late_fee", {"cap_amount": 0}),
            ("late_fee", {"frequency": "weekly"}),
        ],
    )
    async def test_a_field_out_of_range_is_a_validation_error(
        self,
        api: httpx.AsyncClient,
        owner: Account,
        unit: dict[str, Any],
        field: str,
        value: Any,
    ) -> None:
        answer = await post_lease(api, owner, lease_body(unit["id"], **{field: value}))

        assert answer.status_code == 422
        problem = answer.json()
        assert problem["code"] == "validation_error"
        assert any(error["loc"][:2] == ["body", field] for error in problem["errors"])

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("status", "active"),
            ("organization_id", str(uuid.uuid4())),
            ("property_id", str(uuid.uuid4())),
            ("renewed_from_id", str(uuid.uuid4())),
            ("activated_at", "2026-01-01T00:00:00Z"),
        ],
    )
    async def test_a_field_the_body_does_not_declare_is_refused(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        owner: Account,
        unit: dict[str, Any],
        field: str,
        value: str,
    ) -> None:
        answer = await post_lease(api, owner, lease_body(unit["id"], **{field: value}))

        assert answer.status_code == 422
        assert ["body", field] in [error["loc"] for error in answer.json()["errors"]]
        assert (
            await db.scalar(
                select(Lease.id).where(Lease.unit_id == uuid.UUID(unit["id"]))
            )
            is None
        )

    async def test_a_unit_of_another_organization_is_not_found(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        unit: dict[str, Any],
    ) -> None:
        stranger = await make_landlord(db, settings)

        answer = await post_lease(api, stranger, lease_body(unit["id"]))

        assert answer.status_code == 404
        assert answer.json()["code"] == "unit_not_found"

    async def test_an_archived_unit_takes_no_new_lease(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        ok(await api.post(f"/api/v1/units/{unit['id']}/archive", headers=owner.headers))

        answer = await post_lease(api, owner, lease_body(unit["id"]))

        assert answer.status_code == 409
        assert answer.json()["code"] == "unit_archived"

    async def test_a_unit_of_an_archived_property_takes_no_new_lease(
        self, api: httpx.AsyncClient, owner: Account, unit: dict[str, Any]
    ) -> None:
        ok(
            await api.post(
                f"/api/v1/properties/{unit['property_id']}/archive",
                headers=owner.headers,
            )
        )

        answer = await post_lease(api, owner, lease_body(unit["id"]))

        assert answer.status_code == 409
        assert answer.json()["code"] == "property_archived"
