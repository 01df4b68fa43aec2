"""``asset-anchor dev``: the one-command local run behind ``make run``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from asset_anchor.settings import Settings
from tests.conftest import REDIS_PREFIX
from tests.support.proxy import free_port


async def wait_for_healthy(
    base: str, process: asyncio.subprocess.Process
) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=3) as client:
        async with asyncio.timeout(60):
            while True:
                assert process.returncode is None, "dev exited early"
                try:
                    response = await client.get("/health")
                    if response.status_code == 200:
                        body: dict[str, str] = response.json()
                        if body["status"] == "healthy":
                            return body
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)


async def run_dev(
    env: dict[str, str], data_dir: Path
) -> tuple[dict[str, str], int, bytes]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asset_anchor.cli",
        "dev",
        "--data-dir",
        str(data_dir),
        env={**env, "PORT": str(port)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        body = await wait_for_healthy(f"http://127.0.0.1:{port}", process)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return body, process.returncode, output


def base_env() -> dict[str, str]:
    names = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in names}


class TestDev:
    async def test_serves_healthy_on_embedded_servers_and_stops_on_ctrl_c(
        self, tmp_path: Path
    ) -> None:
        body, code, output = await run_dev(base_env(), tmp_path / "data")

        assert body["database"] == "connected"
        assert body["redis"] == "connected"
        assert code == 0
        assert b"/docs" in output
        assert b"worker.started" in output
        assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()
        assert len((tmp_path / "data" / "jwt_secret").read_text()) == 64

    async def test_uses_the_given_servers_when_urls_are_set(
        self, tmp_path: Path, database_url: str, redis_url: str
    ) -> None:
        env = {
            **base_env(),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"{REDIS_PREFIX}dev:",
        }

        body, code, output = await run_dev(env, tmp_path / "data")

        assert body["status"] == "healthy"
        assert code == 0
        assert not (tmp_path / "data" / "postgres").exists()
        assert b"embedded.postgres_started" not in output
