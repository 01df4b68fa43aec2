"""The request's unit of work: commit before the response, roll back on error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.app import create_app, lifespan
from asset_anchor.db import SessionDep
from asset_anchor.errors import Conflict
from asset_anchor.kit.time import utc_now
from asset_anchor.models import IdempotencyKey
from asset_anchor.settings import Settings
from tests.conftest import client_for, make_settings
from tests.support.proxy import free_port

SCOPE = f"test-session-{uuid.uuid4().hex}"

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


def new_key(key: str) -> IdempotencyKey:
    return IdempotencyKey(
        scope=SCOPE,
        key=key,
        request_fingerprint="0" * 64,
        expires_at=utc_now() + timedelta(hours=1),
    )


@router.post("/{key}", status_code=201)
async def create_key(key: str, session: SessionDep) -> dict[str, str]:
    # No flush: whatever is wrong surfaces in the commit itself.
    session.add(new_key(key))
    return {"key": key}


@router.post("/{key}/then-fail")
async def create_then_fail(key: str, session: SessionDep) -> None:
    session.add(new_key(key))
    await session.flush()
    raise Conflict("refused after writing")


@router.get("/count")
async def count_keys(session: SessionDep) -> dict[str, int]:
    total = await session.scalar(select(func.count()).select_from(IdempotencyKey))
    return {"count": total or 0}


async def stored_keys(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.scope == SCOPE)
        )
        return list(rows)


@pytest.fixture
async def real_client(
    settings: Settings, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its own, really committing, session dependency."""
    app = create_app(settings)
    app.include_router(router)
    async with lifespan(app), client_for(app) as client:
        yield client
    async with committed_sessionmaker.begin() as session:
        await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.scope == SCOPE)
        )


class TestUnitOfWork:
    async def test_work_is_committed_before_the_response(
        self,
        real_client: httpx.AsyncClient,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await real_client.post("/api/v1/keys/first")

        assert response.status_code == 201
        assert await stored_keys(committed_sessionmaker) == ["first"]

    async def test_a_failing_commit_is_an_error_response_not_a_200(
        self,
        real_client: httpx.AsyncClient,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        await real_client.post("/api/v1/keys/taken")

        response = await real_client.post("/api/v1/keys/taken")

        assert response.status_code == 500
        assert response.json()["code"] == "internal_error"
        assert await stored_keys(committed_sessionmaker) == ["taken"]

    async def test_an_error_in_the_route_rolls_back_its_writes(
        self,
        real_client: httpx.AsyncClient,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await real_client.post("/api/v1/keys/doomed/then-fail")

        assert response.status_code == 409
        assert await stored_keys(committed_sessionmaker) == []


class TestDatabaseOutage:
    async def test_a_request_needing_the_database_gets_a_503(
        self, redis_url: str
    ) -> None:
        dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
        app = create_app(make_settings(dead, redis_url))
        app.include_router(router)

        async with lifespan(app), client_for(app) as client:
            response = await client.get("/api/v1/keys/count")

        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"

    async def test_an_exhausted_pool_fails_fast_with_a_503(
        self, database_url: str, redis_url: str
    ) -> None:
        settings = make_settings(
            database_url,
            redis_url,
            db_pool_size=1,
            db_max_overflow=0,
            db_pool_timeout_seconds=0.2,
        )
        app = create_app(settings)
        app.include_router(router)

        async with (
            lifespan(app),
            client_for(app) as client,
            app.state.engine.connect(),
        ):
            response = await client.get("/api/v1/keys/count")

        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"


class TestFailedStatements:
    async def test_an_error_never_carries_the_statement_parameters(
        self, db: AsyncSession
    ) -> None:
        secret = f"not-for-any-log-{uuid.uuid4().hex}"
        db.add(new_key(secret))
        await db.flush()

        duplicate = await db.begin_nested()
        db.add(new_key(secret))

        with pytest.raises(IntegrityError) as raised:
            await db.flush()
        await duplicate.rollback()

        assert "duplicate key" in str(raised.value)
        assert secret not in str(raised.value)
        assert secret not in repr(raised.value)
