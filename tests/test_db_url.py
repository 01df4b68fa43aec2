from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from asset_anchor.db import classify_database_error, create_engine, parse_database_url
from asset_anchor.settings import ConfigurationError, Settings
from tests.conftest import make_settings

PASSWORD = "pw-4d9f2a7c1e"


async def scalar(engine: AsyncEngine, statement: str) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(statement))).scalar_one()


@pytest.fixture
async def engine_with_timeout(
    database_url: str, redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncEngine]:
    """An engine whose statement timeout is the test's parameter (in ms)."""
    timeout_ms: int = request.param
    engine = create_engine(
        make_settings(database_url, redis_url, db_statement_timeout_ms=timeout_ms)
    )
    yield engine
    await engine.dispose()


class TestParseDatabaseUrl:
    @pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
    def test_postgres_schemes_become_asyncpg(self, scheme: str) -> None:
        raw = f"{scheme}://app:{PASSWORD}@db.example.test:5433/app"

        target = parse_database_url(raw)

        url = target.sqlalchemy_url
        assert url.drivername == "postgresql+asyncpg"
        assert (url.username, url.password) == ("app", PASSWORD)
        assert (url.host, url.port, url.database) == ("db.example.test", 5433, "app")

    def test_asyncpg_dsn_uses_the_plain_postgresql_scheme(self) -> None:
        raw = f"postgres://app:{PASSWORD}@db.example.test/app"

        target = parse_database_url(raw)

        assert target.asyncpg_dsn.startswith("postgresql://")
        assert make_url(target.asyncpg_dsn).password == PASSWORD

    def test_sslmode_require_becomes_the_asyncpg_ssl_argument(self) -> None:
        raw = f"postgresql://app:{PASSWORD}@db.example.test/app?sslmode=require"

        target = parse_database_url(raw)

        assert target.connect_args["ssl"] == "require"
        assert "sslmode" not in target.sqlalchemy_url.query
        assert make_url(target.asyncpg_dsn).query["sslmode"] == "require"

    def test_url_without_parameters_has_no_connect_arguments(self) -> None:
        raw = f"postgresql://app:{PASSWORD}@db.example.test/app"

        target = parse_database_url(raw)

        assert target.connect_args == {}
        assert dict(target.sqlalchemy_url.query) == {}

    def test_unix_socket_url_keeps_its_host_parameter(self) -> None:
        raw = "postgresql://postgres:@/postgres?host=/some/dir"

        target = parse_database_url(raw)

        assert target.sqlalchemy_url.host is None
        assert target.sqlalchemy_url.query["host"] == "/some/dir"
        assert make_url(target.asyncpg_dsn).query["host"] == "/some/dir"

    @pytest.mark.parametrize(
        "password", ["p@ss:w/rd", "100%sure", "a b?c#d&e=f", "ünï+cødé"]
    )
    def test_password_with_special_characters_survives(self, password: str) -> None:
        raw = f"postgresql://app:{quote(password, safe='')}@db.example.test/app"

        target = parse_database_url(raw)

        rendered = target.sqlalchemy_url.render_as_string(hide_password=False)
        assert make_url(rendered).password == password
        assert make_url(target.asyncpg_dsn).password == password


class TestParseDatabaseUrlRefusal:
    @pytest.mark.parametrize(
        "raw",
        [
            f"postgresql://app:{PASSWORD}@db.example.test/app?sslmode=sometimes",
            f"postgresql://app:{PASSWORD}@db.example.test/app?pool=big",
            f"mysql://app:{PASSWORD}@db.example.test/app",
            f"postgresql//app:{PASSWORD}@db.example.test/app",
            f"not a url {PASSWORD}",
        ],
        ids=[
            "unknown-sslmode",
            "unknown-parameter",
            "mysql",
            "missing-colon",
            "garbage",
        ],
    )
    def test_unusable_url_is_refused_without_showing_the_password(
        self, raw: str
    ) -> None:
        with pytest.raises(ConfigurationError) as refused:
            parse_database_url(raw)

        assert refused.value.problems
        assert PASSWORD not in str(refused.value)
        assert all(PASSWORD not in problem for problem in refused.value.problems)

    def test_unknown_parameter_is_named(self) -> None:
        raw = f"postgresql://app:{PASSWORD}@db.example.test/app?pool=big"

        with pytest.raises(ConfigurationError) as refused:
            parse_database_url(raw)

        assert refused.value.problems == [
            "DATABASE_URL has unsupported parameters: pool"
        ]

    def test_other_database_is_named(self) -> None:
        raw = f"mysql://app:{PASSWORD}@db.example.test/app"

        with pytest.raises(ConfigurationError) as refused:
            parse_database_url(raw)

        assert "mysql" in str(refused.value)


class TestEngineStatementTimeout:
    @pytest.mark.parametrize("engine_with_timeout", [1500], indirect=True)
    async def test_connections_carry_the_configured_statement_timeout(
        self, engine_with_timeout: AsyncEngine
    ) -> None:
        setting = await scalar(
            engine_with_timeout, "SELECT current_setting('statement_timeout')"
        )

        assert setting == "1500ms"

    async def test_default_statement_timeout_is_ten_seconds(
        self, database_url: str, redis_url: str
    ) -> None:
        engine = create_engine(make_settings(database_url, redis_url))

        try:
            setting = await scalar(
                engine, "SELECT current_setting('statement_timeout')"
            )
        finally:
            await engine.dispose()

        assert setting == "10s"

    @pytest.mark.parametrize("engine_with_timeout", [200], indirect=True)
    async def test_statement_over_the_timeout_is_a_database_timeout(
        self, engine_with_timeout: AsyncEngine
    ) -> None:
        with pytest.raises(sa_exc.DBAPIError) as failed:
            await scalar(engine_with_timeout, "SELECT pg_sleep(1)")

        error = classify_database_error(failed.value)
        assert error is not None
        assert error.code == "database_timeout"


class TestClassifyDatabaseError:
    def test_unrelated_error_is_left_alone(self) -> None:
        error = classify_database_error(RuntimeError())

        assert error is None

    def test_refused_connection_is_database_unavailable(self) -> None:
        error = classify_database_error(ConnectionRefusedError())

        assert error is not None
        assert error.code == "database_unavailable"
        assert error.status == 503

    async def test_a_deadlock_is_database_busy(self, settings: Settings) -> None:
        # Two transactions each hold one lock and wait for the other's:
        # PostgreSQL ends one of them, and that one may simply try again.
        engine = create_engine(settings)
        first_locked, second_locked = asyncio.Event(), asyncio.Event()

        async def take(
            mine: int, theirs: int, done: asyncio.Event, other: asyncio.Event
        ) -> None:
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            async with engine.begin() as connection:
                await connection.execute(lock, {"key": mine})
                done.set()
                await other.wait()
                await connection.execute(lock, {"key": theirs})

        try:
            outcomes = await asyncio.gather(
                take(71_001, 71_002, first_locked, second_locked),
                take(71_002, 71_001, second_locked, first_locked),
                return_exceptions=True,
            )
        finally:
            await engine.dispose()

        failures = [one for one in outcomes if isinstance(one, BaseException)]
        assert len(failures) == 1
        error = classify_database_error(failures[0])
        assert error is not None
        assert error.code == "database_busy"
        assert error.status == 503
