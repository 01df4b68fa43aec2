"""What authentication costs: authenticated reads, and sign-ins per second.

Creates a database of its own (migrated, dropped at the end), starts
``asset-anchor serve`` (one uvicorn process) on a free loopback port and
``asset-anchor worker`` (which finishes sign-ups), signs a landlord up and in,
then:

- loads two authenticated endpoints with wrk for a fixed time: every request
  verifies the JWT and looks its session up; ``/api/v1/auth/mfa`` adds one
  query, ``/api/v1/me`` four;
- times a fixed number of sign-ins (argon2id verification in a thread),
  ``--login-concurrency`` at a time; the number stays under the per-address
  sign-in limit.

    PYTHONPATH=. python benchmarks/auth.py [--seconds S] [--connections C]

The PostgreSQL server is TEST_DATABASE_URL (or 127.0.0.1:5432), Redis is
TEST_REDIS_URL (or 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time

import httpx
from benchmarks.health import free_port, milliseconds, run_wrk, wait_until_up
from tests.support.servers import create_database, drop_database

from asset_anchor import migrations

PASSWORD = "velvet-orbit-canyon-mosaic"  # noqa: S105 - a benchmark account
AUTHENTICATED = {
    "/api/v1/auth/mfa": "principal + 1 query",
    "/api/v1/me": "principal + 4 queries",
}


async def sign_up_and_in(base: str) -> tuple[str, str]:
    email = f"bench.{secrets.token_hex(4)}@example.test"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        answer = await client.post(
            "/api/v1/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "full_name": "Bench Landlord",
                "organization_name": "Bench Homes",
            },
        )
        answer.raise_for_status()
        # The worker finishes a sign-up; sign in once it has.
        for _ in range(150):
            login = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            if login.status_code == 200:
                return email, str(login.json()["access_token"])
            await asyncio.sleep(0.2)
        login.raise_for_status()
        raise RuntimeError(f"sign-in kept answering {login.status_code}")


async def time_logins(base: str, email: str, count: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient) -> None:
        async with gate:
            answer = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            answer.raise_for_status()

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(count)))
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description="authentication benchmark")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--login-concurrency", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed: apt-get install wrk\n")
        return 2
    server_url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"aa_bench_{secrets.token_hex(4)}"
    database_url = asyncio.run(create_database(server_url, name))
    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": f"aa-bench-{secrets.token_hex(4)}:",
        "JWT_SECRET": secrets.token_hex(32),
        "EMAIL_BACKEND": "file",
        "EMAIL_FILE_DIR": f"/tmp/{name}-mail",  # noqa: S108 - a scratch folder
    }
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        migrations.upgrade(database_url)
        server = subprocess.Popen(
            [sys.executable, "-m", "asset_anchor.cli", "serve", "--host", "127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "asset_anchor.cli", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        email, token = asyncio.run(sign_up_and_in(base))
        sys.stdout.write(
            f"wrk, {args.connections} connections, {args.seconds} s per path,"
            f" one uvicorn process, Python {sys.version.split()[0]},"
            f" {os.cpu_count()} cores shared by server, database and load\n\n"
            "| path | what | req/s | p50 ms | p90 ms | p99 ms | non-2xx |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        for path, label in AUTHENTICATED.items():
            figures = run_wrk(
                f"{base}{path}",
                args.seconds,
                args.connections,
                headers={"Authorization": f"Bearer {token}"},
            )
            sys.stdout.write(
                f"| `{path}` | {label} | {float(figures['rps']):,.0f} |"
                f" {milliseconds(figures['p50'])} | {milliseconds(figures['p90'])} |"
                f" {milliseconds(figures['p99'])} | {figures['non2xx']} |\n"
            )
            sys.stdout.flush()
        elapsed = asyncio.run(
            time_logins(base, email, args.logins, args.login_concurrency)
        )
        sys.stdout.write(
            f"\n{args.logins} sign-ins, {args.login_concurrency} at a time:"
            f" {elapsed:.2f} s, {args.logins / elapsed:.1f} sign-ins/s,"
            f" {elapsed / args.logins * 1000:.0f} ms each on average\n"
        )
    finally:
        for process in (server, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        asyncio.run(drop_database(server_url, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
