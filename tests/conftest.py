"""Test fixtures: a real PostgreSQL and a real Redis, isolated per run and test.

- ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` name the servers; without them the
  embedded servers start under ``.data/test/``.
- Each run creates its own database (``aa_test_<run>``), migrated to head by
  Alembic exactly as production is, and drops it at the end.
- Each run prefixes its Redis keys and queue with ``aa-test-<run>:`` and deletes
  only those keys at the end; a shared Redis is never flushed.
- Each test runs inside a transaction that is rolled back (``db``); tests that
  need real commits use ``committed_sessionmaker`` and clean up after
  themselves.
"""

from __future__ import annotations

import os
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from asset_anchor import migrations
from asset_anchor.accounts.service import complete_registration
from asset_anchor.app import create_app, lifespan
from asset_anchor.db import create_engine, create_sessionmaker, get_session
from asset_anchor.email.service import opened_secrets
from asset_anchor.errors import AppError
from asset_anchor.kit.time import utc_now
from asset_anchor.models import Email, OutboxJob
from asset_anchor.settings import Settings
from tests.support.servers import (
    call_in_thread,
    create_database,
    drop_database,
    run_in_thread,
)

RUN_ID = secrets.token_hex(4)
DATABASE_NAME = f"aa_test_{RUN_ID}"
REDIS_PREFIX = f"aa-test-{RUN_ID}:"
EMBEDDED_DIR = Path(__file__).resolve().parents[1] / ".data" / "test"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A URL of the PostgreSQL server (any database on it)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from asset_anchor.embedded import start_postgres

    embedded = start_postgres(EMBEDDED_DIR, "postgres")
    yield embedded.url
    embedded.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    from asset_anchor.embedded import start_redis

    embedded = start_redis(EMBEDDED_DIR)
    yield embedded.url
    embedded.stop()


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """This run's own database, migrated to head."""
    url = run_in_thread(create_database(postgres_server_url, DATABASE_NAME))
    call_in_thread(migrations.upgrade, url)
    yield url
    run_in_thread(drop_database(postgres_server_url, DATABASE_NAME))


def make_settings(database_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "redis_key_prefix": REDIS_PREFIX,
        "jwt_secret": "test-only-signing-key-that-is-long-enough",
        "cors_origins": ["https://app.example.test"],
        "worker_shutdown_grace_seconds": 5,
        "log_format": "console",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def email_secrets(email: Email) -> dict[str, str]:
    """A queued email's one-time values (a link's token), opened as the worker
    would with the key of ``make_settings``."""
    return opened_secrets(
        make_settings("postgresql:///unused", "redis://unused"), email
    )


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(database_url, redis_url)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
def committed_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are real (the test cleans up what it made)."""
    return create_sessionmaker(engine)


@pytest.fixture(scope="session")
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    # arq keeps its own keys (arq:job:<id>, …) with our ids inside them.
    keys = [key async for key in client.scan_iter(match=f"*{REDIS_PREFIX}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


# Marks the statements the test harness itself runs around a request, so that
# a test counting an endpoint's statements can leave them out.
HARNESS_MARK = "/* test harness */"


async def complete_registrations(db: AsyncSession, settings: Settings) -> int:
    """Run the sign-up jobs queued in ``db``'s transaction, as the worker would."""
    rows = list(
        await db.scalars(
            select(OutboxJob)
            .prefix_with(HARNESS_MARK)
            .where(
                OutboxJob.job_name == "accounts.complete_registration",
                OutboxJob.completed_at.is_(None),
            )
        )
    )
    for row in rows:
        registration_id = uuid.UUID(row.arguments["registration_id"])
        await complete_registration(db, settings, registration_id)
        row.completed_at = utc_now()
    await db.flush()
    return len(rows)


@asynccontextmanager
async def app_on(
    settings: Settings, db: AsyncSession, *, complete_signups: bool = True
) -> AsyncIterator[FastAPI]:
    """The API on ``settings``, lifespan run, requests bound to ``db``'s transaction.

    With ``complete_signups`` each request's sign-up job runs as soon as the
    request is done (the worker's part, in process), so that a test can sign
    in straight after signing up.
    """
    app = create_app(settings)
    async with lifespan(app):

        async def test_session() -> AsyncIterator[AsyncSession]:
            # A savepoint stands for the request's transaction: a failed
            # request leaves nothing behind, as in production, unless its
            # error keeps the work (a failed sign-in is recorded).
            request = await db.begin_nested()
            try:
                yield db
            except AppError as error:
                if error.keeps_work:
                    await db.flush()
                    await request.commit()
                else:
                    await request.rollback()
                raise
            except BaseException:
                await request.rollback()
                raise
            await db.flush()
            await request.commit()
            if complete_signups:
                await complete_registrations(db, settings)

        app.dependency_overrides[get_session] = test_session
        yield app


@pytest.fixture
async def app(settings: Settings, db: AsyncSession) -> AsyncIterator[FastAPI]:
    """The API with its lifespan run and requests bound to the test transaction."""
    async with app_on(settings, db) as app:
        yield app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


def random_address() -> str:
    """A client address of its own, so per-address limits never meet either."""
    return (
        f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    )


def client_at(app: FastAPI, address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=app,
        raise_app_exceptions=False,
        client=(address or random_address(), 40000),
    )
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the ``app`` fixture, from a client address of its own."""
    async with client_at(app) as client:
        yield client
