from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
import uvicorn
from redis import Redis

from asset_anchor import __version__, migrations
from asset_anchor.cli import main
from asset_anchor.settings import Settings
from tests.support.servers import (
    asyncpg_dsn,
    call_in_thread,
    create_database,
    drop_database,
)

# Loggers whose state ``configure_logging`` (run by ``worker``) changes.
_TOUCHED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "arq", "pgserver")


@contextmanager
def logging_restored() -> Iterator[None]:
    """Undo the process-wide logging set-up a command performs."""
    saved = [
        (logger, logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for logger in map(logging.getLogger, _TOUCHED_LOGGERS)
    ]
    try:
        yield
    finally:
        for logger, handlers, level, propagate, disabled in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def run_command(argv: Sequence[str]) -> int:
    """``main`` in a thread of its own: commands run their own event loop."""
    with logging_restored():
        return call_in_thread(main, list(argv))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the real environment may reach the commands under test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call to ``uvicorn.run``, which never starts a server here."""
    calls: list[dict[str, Any]] = []

    def record(app: str, **options: Any) -> None:
        calls.append({"app": app, **options})

    monkeypatch.setattr(uvicorn, "run", record)
    return calls


@pytest.fixture
def worker_prefix(
    monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str
) -> str:
    """A development environment whose Redis keys no other test shares."""
    prefix = f"aa-test-cli-{secrets.token_hex(4)}:"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    return prefix


@pytest.fixture
def health_report(worker_prefix: str, redis_url: str) -> Iterator[None]:
    """A worker's health key, as a running worker writes it, removed afterwards."""
    key = f"{worker_prefix}worker:health"
    client = Redis.from_url(redis_url)
    client.set(key, "j_complete=0 j_failed=0 j_retried=0 j_ongoing=0 queued=0")
    try:
        yield
    finally:
        client.delete(key)
        client.close()


@pytest.fixture
async def fresh_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """An empty database of the test's own, dropped afterwards."""
    name = f"aa_cli_{secrets.token_hex(4)}"
    url = await create_database(postgres_server_url, name)
    try:
        yield url
    finally:
        await drop_database(postgres_server_url, name)


async def schema_state(database_url: str) -> tuple[str | None, list[str]]:
    """The ``idempotency_keys`` table's name if it exists, and Alembic's versions."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        table = await connection.fetchval(
            "SELECT to_regclass('public.idempotency_keys')::text"
        )
        rows = await connection.fetch("SELECT version_num FROM alembic_version")
    finally:
        await connection.close()
    return table, [row["version_num"] for row in rows]


class TestServe:
    def test_production_without_secrets_exits_2_naming_them(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        uvicorn_runs: list[dict[str, Any]],
    ) -> None:
        monkeypatch.setenv("ENVIRONMENT", "production")

        code = main(["serve"])

        stderr = capsys.readouterr().err
        assert code == 2
        for variable in ("JWT_SECRET", "DATABASE_URL", "REDIS_URL"):
            assert variable in stderr
        assert uvicorn_runs == []

    def test_usable_configuration_starts_uvicorn_with_the_app_factory(
        self,
        monkeypatch: pytest.MonkeyPatch,
        database_url: str,
        redis_url: str,
        uvicorn_runs: list[dict[str, Any]],
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("REDIS_URL", redis_url)
        monkeypatch.setenv("PORT", "8765")

        code = main(["serve"])

        assert code == 0
        assert len(uvicorn_runs) == 1
        assert uvicorn_runs[0]["app"] == "asset_anchor.app:create_app"
        assert uvicorn_runs[0]["factory"] is True
        assert uvicorn_runs[0]["port"] == 8765


class TestWorkerCheck:
    @pytest.mark.usefixtures("worker_prefix")
    def test_no_health_report_exits_1(self) -> None:
        code = run_command(["worker", "--check"])

        assert code == 1

    @pytest.mark.usefixtures("health_report")
    def test_recent_health_report_exits_0(self) -> None:
        code = run_command(["worker", "--check"])

        assert code == 0


class TestMigrate:
    async def test_fresh_database_is_upgraded_to_head(
        self, monkeypatch: pytest.MonkeyPatch, fresh_database_url: str
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", fresh_database_url)

        code = run_command(["migrate"])

        table, versions = await schema_state(fresh_database_url)
        assert code == 0
        assert table == "idempotency_keys"
        assert versions == [migrations.current_head()]

    async def test_a_database_ahead_of_this_release_is_left_alone(
        self,
        monkeypatch: pytest.MonkeyPatch,
        fresh_database_url: str,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(fresh_database_url))
        try:
            await connection.execute(
                "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
                "INSERT INTO alembic_version VALUES ('9999_from_the_future')"
            )
        finally:
            await connection.close()
        monkeypatch.setenv("DATABASE_URL", fresh_database_url)

        code = run_command(["migrate"])

        table, versions = await schema_state(fresh_database_url)
        assert code == 0
        assert "newer than this release knows" in capsys.readouterr().out
        assert table is None
        assert versions == ["9999_from_the_future"]


class TestConfigurationErrors:
    def test_a_mistyped_variable_exits_2_naming_it(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        uvicorn_runs: list[dict[str, Any]],
    ) -> None:
        monkeypatch.setenv("PORT", "eighty")

        code = main(["serve"])

        stderr = capsys.readouterr().err
        assert code == 2
        assert "PORT" in stderr
        assert "Traceback" not in stderr
        assert uvicorn_runs == []


class TestVersion:
    def test_version_flag_prints_the_version(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["--version"])

        assert exited.value.code == 0
        assert capsys.readouterr().out.strip() == __version__
