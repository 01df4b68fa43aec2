"""The arq worker: its settings, its lifecycle and a supervisor that outlives
Redis outages.

arq's own main loop exits when Redis goes away; ``run_worker`` builds a new
arq ``Worker`` after each such exit, with capped exponential backoff, until it
is told to stop (SIGTERM/SIGINT, or the ``stop`` event from ``dev``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from datetime import UTC
from typing import Any

import httpx
from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func
from redis.exceptions import RedisError

from asset_anchor.billing.tasks import cron_jobs as billing_cron_jobs
from asset_anchor.db import create_engine, create_sessionmaker
from asset_anchor.idempotency.tasks import prune_idempotency_keys
from asset_anchor.jobs import catalog
from asset_anchor.jobs.queue import RUN_OUTBOX_JOB, deserialize, serialize
from asset_anchor.jobs.runner import run_outbox_job
from asset_anchor.jobs.tasks import prune_outbox, sweep_outbox
from asset_anchor.logging import get_logger
from asset_anchor.payments.tasks import cron_jobs as stripe_cron_jobs
from asset_anchor.settings import Settings

log = get_logger(__name__)

# A worker that ran this long before failing was healthy: start backoff anew.
_HEALTHY_RUN_SECONDS = 60.0
_FIRST_RETRY_DELAY_SECONDS = 0.5


def redis_settings(settings: Settings) -> RedisSettings:
    """arq's connection settings; no retries of its own (the supervisor retries)."""
    options = RedisSettings.from_dsn(settings.require_redis_url())
    options.conn_timeout = max(1, round(settings.redis_timeout_seconds))
    options.conn_retries = 0
    return options


async def startup(ctx: dict[str, Any]) -> None:
    """Give jobs their own engine; the API's pool is not shared with the worker."""
    settings: Settings = ctx["settings"]
    engine = create_engine(settings, application_name="asset-anchor-worker")
    ctx["engine"] = engine
    ctx["sessionmaker"] = create_sessionmaker(engine)
    if "http" not in ctx:  # a test may bring a client with a fake transport
        ctx["http"] = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.postmark_timeout_seconds),
            limits=httpx.Limits(max_connections=settings.worker_max_jobs * 2),
            follow_redirects=False,
        )
        ctx["owns_http"] = True
    log.info(
        "worker.started",
        queue=settings.arq_queue_name,
        jobs=sorted(catalog.load()),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    """Dispose of the job engine; safe to call more than once."""
    engine = ctx.pop("engine", None)
    ctx.pop("sessionmaker", None)
    if ctx.pop("owns_http", False):
        await ctx.pop("http").aclose()
    if engine is not None:
        await engine.dispose()
        log.info("worker.stopped")


def worker_settings(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of arq's ``Worker`` for this deployment."""
    return {
        "functions": [
            # Retries are counted on the outbox row, so arq's own limit only
            # has to stay out of the way; no result is kept, so the sweep may
            # hand a row over again as soon as its previous run ended.
            func(
                run_outbox_job,
                name=RUN_OUTBOX_JOB,
                max_tries=10_000,
                keep_result=0,
                timeout=settings.worker_job_timeout_seconds,
            ),
            func(prune_idempotency_keys, name="maintenance.prune_idempotency_keys"),
        ],
        "cron_jobs": [
            cron(
                sweep_outbox,
                name="cron.outbox.sweep",
                second=set(range(0, 60, settings.outbox_sweep_interval_seconds)),
                unique=True,
                timeout=settings.worker_job_timeout_seconds,
                keep_result=0,
            ),
            cron(
                prune_outbox,
                name="cron.outbox.prune",
                minute={17},
                second=0,
                unique=True,
                timeout=settings.worker_job_timeout_seconds,
            ),
            cron(
                prune_idempotency_keys,
                name="cron.maintenance.prune_idempotency_keys",
                minute={7, 22, 37, 52},
                second=0,
                run_at_startup=False,
                unique=True,
                timeout=settings.worker_job_timeout_seconds,
            ),
            *billing_cron_jobs(settings),
            *stripe_cron_jobs(settings),
        ],
        "redis_settings": redis_settings(settings),
        "queue_name": settings.arq_queue_name,
        "health_check_key": f"{settings.redis_key_prefix}worker:health",
        "health_check_interval": settings.worker_health_check_interval_seconds,
        "max_jobs": settings.worker_max_jobs,
        # arq finds new jobs by polling; its default of 0.5 s would cap a
        # worker running 50 ms jobs at about max_jobs / 0.5 s.
        "poll_delay": settings.worker_poll_delay_seconds,
        "job_timeout": settings.worker_job_timeout_seconds,
        "keep_result": 3600,
        "job_completion_wait": settings.worker_shutdown_grace_seconds,
        "timezone": UTC,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings},
        "job_serializer": serialize,
        "job_deserializer": deserialize,
    }


class WorkerSupervisor:
    """Runs arq workers one after another until told to stop."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        self.overrides = overrides
        self.stop_requested = asyncio.Event()
        self.current: Worker | None = None
        self.restarts = 0

    def request_stop(self, signum: int | None = None) -> None:
        """Stop taking jobs; let running ones finish within the grace period."""
        reason = signal.Signals(signum).name if signum is not None else "shutdown"
        log.info("worker.stop_requested", reason=reason)
        self.stop_requested.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)

    async def run(self) -> None:
        delay = _FIRST_RETRY_DELAY_SECONDS
        while not self.stop_requested.is_set():
            started = asyncio.get_running_loop().time()
            failed = await self._run_once()
            if not failed or self.stop_requested.is_set():
                return
            if asyncio.get_running_loop().time() - started > _HEALTHY_RUN_SECONDS:
                delay = _FIRST_RETRY_DELAY_SECONDS
            pause = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not a secret
            log.warning("worker.restarting", in_seconds=round(pause, 2))
            self.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_requested.wait(), timeout=pause)
            delay = min(delay * 2, self.settings.worker_restart_max_delay_seconds)

    async def _run_once(self) -> bool:
        """Run one arq worker to its end; return True when Redis made it fail."""
        options = {**worker_settings(self.settings), **self.overrides}
        options["ctx"] = dict(options["ctx"])
        worker = Worker(**options, handle_signals=False)
        self.current = worker
        stopper = asyncio.create_task(self._stop_when_requested(worker))
        failed = False
        try:
            await worker.async_run()
        except asyncio.CancelledError:
            if _being_cancelled():
                raise
        except (RedisError, OSError) as error:
            log.warning("worker.redis_unavailable", error_type=type(error).__name__)
            failed = True
        finally:
            stopper.cancel()
            self.current = None
            await _teardown(worker)
        return failed

    async def _stop_when_requested(self, worker: Worker) -> None:
        await self.stop_requested.wait()
        if self.settings.worker_shutdown_grace_seconds > 0:
            # Stops picking jobs, waits for running ones, then ends main().
            worker.handle_sig_wait_for_completion(signal.SIGTERM)
        else:
            worker.handle_sig(signal.SIGTERM)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _teardown(worker: Worker) -> None:
    """Release what one arq worker held, whether or not Redis still answers.

    arq's own ``close`` assumes a live Redis and re-raises the cancellation of
    its tasks; after an outage neither holds, so this does the same steps
    defensively.
    """
    for task in worker.tasks.values():
        task.cancel()
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    pool = worker._pool  # arq exposes no public "is connected" check
    if pool is not None:
        with contextlib.suppress(RedisError, OSError):
            await pool.delete(worker.health_check_key)
        with contextlib.suppress(RedisError, OSError):
            await pool.aclose()
        worker._pool = None
    await shutdown(worker.ctx)


async def run_worker(
    settings: Settings, *, handle_signals: bool = True, **overrides: Any
) -> WorkerSupervisor:
    """Run the worker until SIGTERM/SIGINT (or ``request_stop``)."""
    supervisor = WorkerSupervisor(settings, **overrides)
    if handle_signals:
        supervisor.install_signal_handlers()
    await supervisor.run()
    return supervisor


async def check_worker_health(settings: Settings) -> bool:
    """True when some worker wrote its health key within the check interval."""
    from redis.asyncio import Redis

    client = Redis.from_url(
        settings.require_redis_url(),
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
    )
    try:
        report = await client.get(f"{settings.redis_key_prefix}worker:health")
    except (RedisError, OSError):
        log.warning("worker.health_unknown")
        return False
    finally:
        await client.aclose()
    if report is None:
        log.warning("worker.health_missing")
        return False
    log.info("worker.health", report=report.decode())
    return True
