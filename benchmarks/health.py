"""Throughput and latency of the API shell, measured against a real server.

Starts ``asset-anchor serve`` (one uvicorn process) on a free loopback port and
loads it with wrk (Debian package ``wrk``) for a fixed duration per path. Every
run is bounded in time and talks to 127.0.0.1 only.

    DATABASE_URL=… REDIS_URL=… python benchmarks/health.py \
        [--seconds S] [--connections C] [--uncached]

Without DATABASE_URL / REDIS_URL it uses this machine's PostgreSQL and Redis at
127.0.0.1 (TEST_DATABASE_URL / TEST_REDIS_URL when set).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

PATHS = {
    "/health/live": "liveness (no dependency)",
    "/health": "health (one shared probe per second)",
    "/api/v1/missing": "404 problem document",
}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_wrk(
    url: str, seconds: int, connections: int, headers: dict[str, str] | None = None
) -> dict[str, str]:
    wrk = shutil.which("wrk")
    assert wrk is not None
    header_args = [
        argument
        for name, value in (headers or {}).items()
        for argument in ("-H", f"{name}: {value}")
    ]
    output = subprocess.run(  # noqa: S603 - fixed arguments, loopback target
        [
            wrk,
            "--latency",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            *header_args,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    figures = {
        "rps": re.search(r"Requests/sec:\s+([\d.]+)", output),
        "p50": re.search(r"50%\s+([\d.]+\w+)", output),
        "p90": re.search(r"90%\s+([\d.]+\w+)", output),
        "p99": re.search(r"99%\s+([\d.]+\w+)", output),
        "non2xx": re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output),
    }
    return {key: match.group(1) if match else "0" for key, match in figures.items()}


def milliseconds(value: str) -> str:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return f"{float(number) * _UNITS[unit]:.1f}"


def wait_until_up(base: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"{base}/health/live", timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description="API shell benchmark (wrk)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="probe on every /health request (HEALTH_CACHE_SECONDS=0)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.stderr.write("wrk is not installed: apt-get install wrk\n")
        return 2

    port = free_port()
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "PORT": str(port),
        # As in production: one JSON access line per request (to /dev/null).
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "HEALTH_CACHE_SECONDS": "0" if args.uncached else "1",
        "DATABASE_URL": os.environ.get("DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        "REDIS_URL": os.environ.get("REDIS_URL")
        or os.environ.get("TEST_REDIS_URL")
        or "redis://127.0.0.1:6379/0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "asset_anchor.cli", "serve", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        sys.stdout.write(
            f"wrk, {args.connections} connections, {args.seconds} s per path,"
            f" one uvicorn process, Python {sys.version.split()[0]},"
            f" {os.cpu_count()} cores shared by server and load\n\n"
            "| path | what | req/s | p50 ms | p90 ms | p99 ms | non-2xx |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        paths = (
            {"/health": "health, a fresh probe per request"} if args.uncached else PATHS
        )
        for path, label in paths.items():
            figures = run_wrk(f"{base}{path}", args.seconds, args.connections)
            sys.stdout.write(
                f"| `{path}` | {label} | {float(figures['rps']):,.0f} |"
                f" {milliseconds(figures['p50'])} | {milliseconds(figures['p90'])} |"
                f" {milliseconds(figures['p99'])} | {figures['non2xx']} |\n"
            )
            sys.stdout.flush()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
