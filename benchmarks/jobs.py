"""How many email jobs one worker completes per second.

Queues N emails through the outbox (as requests do), hands them to arq, then
runs one arq worker (the production code path, burst mode, production
settings) against a fake Postmark in a process of its own on a loopback port,
which answers every email after a fixed delay, and times the run until every
outbox row is completed. Each run uses a database
of its own, created and dropped here, and Redis keys under its own prefix.

    python benchmarks/jobs.py [--emails N] [--provider-ms 50] [--max-jobs 10 …]

The PostgreSQL server is TEST_DATABASE_URL (or 127.0.0.1:5432), Redis is
TEST_REDIS_URL (or 127.0.0.1:6379).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import secrets
import sys
import time

from arq.connections import create_pool
from arq.worker import Worker
from sqlalchemy import func, select
from tests.support.proxy import free_port
from tests.support.servers import create_database, drop_database

from asset_anchor import migrations
from asset_anchor.db import create_engine, create_sessionmaker
from asset_anchor.email.service import queue_email
from asset_anchor.jobs.outbox import dispatch_pending
from asset_anchor.jobs.queue import deserialize, serialize
from asset_anchor.models import OutboxJob
from asset_anchor.settings import Settings
from asset_anchor.worker import redis_settings, worker_settings

BATCH = 200


async def queue_emails(settings: Settings, count: int) -> None:
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    queue = await create_pool(
        redis_settings(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.arq_queue_name,
    )
    try:
        for start in range(0, count, BATCH):
            async with sessions() as session:
                for number in range(start, min(count, start + BATCH)):
                    queue_email(
                        session,
                        kind="test",
                        to_address=f"tenant{number}@example.test",
                        context={"sent_at": "2026-12-03T09:00:00+00:00"},
                    )
                await session.commit()
                await dispatch_pending(session, queue, settings)
    finally:
        await queue.aclose()
        await engine.dispose()


async def completed(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            done = await session.scalar(
                select(func.count()).where(OutboxJob.completed_at.is_not(None))
            )
            return int(done or 0)
    finally:
        await engine.dispose()


async def run_worker(settings: Settings) -> float:
    options = worker_settings(settings)
    worker = Worker(**options, burst=True, handle_signals=False)
    started = time.perf_counter()
    try:
        await worker.main()
    finally:
        await worker.close()
    return time.perf_counter() - started


async def one_run(
    server_url: str,
    redis_url: str,
    emails: int,
    provider_ms: int,
    max_jobs: int,
    poll_delay: float,
) -> tuple[float, int]:
    name = f"aa_bench_{secrets.token_hex(4)}"
    database_url = await create_database(server_url, name)
    port = free_port()
    postmark = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.fake_postmark", str(port), str(provider_ms)
    )
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            await asyncio.get_running_loop().run_in_executor(
                pool, migrations.upgrade, database_url
            )
        settings = Settings(
            environment="test",
            log_level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            database_url=database_url,
            redis_url=redis_url,
            redis_key_prefix=f"aa-bench-{secrets.token_hex(4)}:",
            email_backend="postmark",
            postmark_api_token="token-for-the-fake",  # noqa: S106
            postmark_api_url=f"http://127.0.0.1:{port}",
            worker_max_jobs=max_jobs,
            worker_poll_delay_seconds=poll_delay,
            db_pool_size=max_jobs + 2,
        )
        await queue_emails(settings, emails)
        elapsed = await run_worker(settings)
        done = await completed(settings)
    finally:
        postmark.terminate()
        await asyncio.wait_for(postmark.wait(), timeout=10)
        await drop_database(server_url, name)
    return elapsed, done


async def main() -> int:
    parser = argparse.ArgumentParser(description="email jobs per second, one worker")
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--provider-ms", type=int, default=50)
    parser.add_argument("--max-jobs", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument(
        "--poll-delay", type=float, default=Settings().worker_poll_delay_seconds
    )
    args = parser.parse_args()
    server_url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

    sys.stdout.write(
        f"{args.emails} emails, fake Postmark answering after {args.provider_ms} ms,"
        f" one worker process polling every {args.poll_delay} s,"
        f" Python {sys.version.split()[0]}, {os.cpu_count()} cores\n\n"
        "| WORKER_MAX_JOBS | completed | seconds | jobs/s | ceiling jobs/s |\n"
        "|---|---|---|---|---|\n"
    )
    for max_jobs in args.max_jobs:
        elapsed, done = await one_run(
            server_url,
            redis_url,
            args.emails,
            args.provider_ms,
            max_jobs,
            args.poll_delay,
        )
        ceiling = max_jobs * 1000 / max(args.provider_ms, 1)
        sys.stdout.write(
            f"| {max_jobs} | {done} | {elapsed:.2f} | {done / elapsed:,.0f} |"
            f" {ceiling:,.0f} |\n"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
