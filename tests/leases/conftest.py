"""Fixtures of the lease tests: an owner and a unit of theirs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.settings import Settings
from tests.portfolio.conftest import (
    Account,
    create_property,
    create_unit,
    make_landlord,
)


@pytest.fixture
async def owner(db: AsyncSession, settings: Settings) -> Account:
    return await make_landlord(db, settings)


@pytest.fixture
async def unit(api: httpx.AsyncClient, owner: Account) -> dict[str, Any]:
    prop = await create_property(api, owner)
    return await create_unit(api, owner, prop["id"])
