"""Fixtures of the ledger tests: an owner, and an active lease of theirs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.models import Allocation, LedgerEntry
from asset_anchor.settings import Settings
from tests.leases.factories import active_lease
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
    ok,
)


@pytest.fixture
async def owner(db: AsyncSession, settings: Settings) -> Account:
    return await make_landlord(db, settings)


@pytest.fixture
async def lease(api: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    prop = await create_property(api, owner)
    unit = await create_unit(api, owner, prop["id"])
    return await active_lease(api, owner, unit["id"])


def lease_path(lease: dict[str, Any], rest: str) -> str:
    return f"/api/v1/leases/{lease['id']}{rest}"


async def charge(
    api: httpx.AsyncClient,
    owner: Account,
    lease: dict[str, Any],
    amount: int,
    due_on: str,
    *,
    category: str = "other",
    description: str = "Key replacement",
) -> dict[str, Any]:
    body = {
        "category": category,
        "amount": amount,
        "due_on": due_on,
        "description": description,
    }
    return ok(  # type: ignore[no-any-return]
        await api.post(lease_path(lease, "/charges"), json=body, headers=owner.headers),
        201,
    )


async def pay(
    api: httpx.AsyncClient,
    owner: Account,
    lease: dict[str, Any],
    amount: int,
    *,
    received_on: str = "2026-02-01",
    key: str | None = None,
    method: str = "check",
) -> httpx.Response:
    headers = dict(owner.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.post(
        lease_path(lease, "/payments"),
        json={"amount": amount, "method": method, "received_on": received_on},
        headers=headers,
    )


async def balance(
    api: httpx.AsyncClient, owner: Account, lease: dict[str, Any]
) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        await api.get(lease_path(lease, "/balance"), headers=owner.headers)
    )


async def entry(
    api: httpx.AsyncClient, owner: Account, entry_id: str
) -> dict[str, Any]:
    return ok(  # type: ignore[no-any-return]
        await api.get(f"/api/v1/entries/{entry_id}", headers=owner.headers)
    )


async def allocated_to(db: AsyncSession, charge_id: str) -> int:
    total = await db.scalar(
        select(func.coalesce(func.sum(Allocation.amount), 0)).where(
            Allocation.charge_id == charge_id
        )
    )
    return int(total or 0)


async def entry_count(db: AsyncSession, lease: dict[str, Any]) -> int:
    total = await db.scalar(
        select(func.count()).where(LedgerEntry.lease_id == lease["id"])
    )
    return int(total or 0)
