"""Ingestion of Stripe's webhooks: signed events in, stored and queued, 200 out.

Creates a database of its own (migrated to head, dropped at the end), starts
``asset-anchor serve`` (one uvicorn process, JSON access lines to /dev/null,
the default pool of 10 + 10 database connections unless DB_POOL_SIZE and
DB_MAX_OVERFLOW are set) with a fake Stripe key and both webhook secrets, and
posts ``payment_intent.succeeded`` events to
``POST /api/v1/webhooks/stripe``: a 2 KB payment intent each (2.6 KB of body,
indented as Stripe sends it), every id new, built before the clock and signed
with ``asset_anchor.integrations.stripe.sign`` a batch at a time just before
they go. The load is ``C`` coroutines in this process (uvloop), each with a
keep-alive httpx client of its own, for a fixed time per row after a short
warm-up, timed with time.perf_counter around each request:

- new events, 10 at a time (signed with the platform endpoint's secret, the
  first one tried) and 50 at a time (the Connect endpoint's, the second):
  the signature checked, the event inserted, ``stripe.process_event`` written
  to the outbox in the same transaction, the commit, the hand-over to arq;
- the first row's events again, signed anew, 10 at a time: Stripe's
  redeliveries (an insert that does nothing, nothing queued);
- new events signed with a secret that is not ours, 10 at a time: every
  answer must be a 400 ``invalid_signature`` problem.

Any other answer, or a request that fails, fails the run (exit status 1). No
worker runs, so the events stay queued. Afterwards ``stripe_events`` must hold
exactly the new events that were sent, each with one ``stripe.process_event``
outbox row, and nothing that was forged. Beside the table, it prints per row
the CPU time used by the API, this process, the run's PostgreSQL backends and
Redis; PostgreSQL's time in statements; the connections the API opened; and
the outbox rows its requests left to the sweep instead of handing to arq.

    PYTHONPATH=. python benchmarks/webhooks.py [--seconds S] [--warmup S]
        [--events N]

The PostgreSQL server is TEST_DATABASE_URL (or 127.0.0.1:5432), Redis is
TEST_REDIS_URL (or 127.0.0.1:6379); Redis keys live under a prefix of this
run's and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvloop
from benchmarks.health import free_port, wait_until_up
from benchmarks.portfolio import delete_redis_keys, percentile, stop
from redis.asyncio import Redis
from tests.support.servers import create_database, drop_database

from asset_anchor import migrations
from asset_anchor.db import parse_database_url
from asset_anchor.integrations.stripe import API_VERSION, sign
from asset_anchor.jobs.queue import arq_job_id
from asset_anchor.settings import Settings

# httpcore imports sniffio on every request; when it is not installed, each
# failed import searches sys.path again, a fifth of this load generator's CPU
# time on the cores the server needs. Marked absent, the import fails at once.
sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

PATH = "/api/v1/webhooks/stripe"
# Fake, and never sent anywhere: the webhook path does not call Stripe.
STRIPE_SECRET_KEY = f"sk_test_bench{secrets.token_hex(12)}"
WEBHOOK_SECRET = f"whsec_bench{secrets.token_hex(16)}"
CONNECT_WEBHOOK_SECRET = f"whsec_bench{secrets.token_hex(16)}"
FORGED_SECRET = f"whsec_forged{secrets.token_hex(16)}"
# Signatures are made this many bodies at a time, right before the first of
# them is posted, so none is older than Stripe's 300 s tolerance allows.
SIGNING_BATCH = 500
# The forged row cycles through this many bodies: none of them is ever stored.
FORGED_EVENTS = 2_000
# PostgreSQL backends publish their statistics when idle, at most once a
# second: read them this long after the load stops.
STATISTICS_DELAY = 1.5


# --- the events -------------------------------------------------------------


def payment_intent(tag: str, number: int, created: int) -> dict[str, Any]:
    """A succeeded destination-charge card payment, as Stripe shows it (2 KB
    as Stripe indents it)."""
    suffix = f"{tag}{number:07d}"
    payment_id = uuid.uuid4()
    amount = 125_000 + (number % 40) * 2_500
    return {
        "id": f"pi_3Bench{suffix}",
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount,
        "application": None,
        "application_fee_amount": amount // 100,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"pi_3Bench{suffix}_secret_{secrets.token_hex(12)}",
        "confirmation_method": "automatic",
        "created": created - 4,
        "currency": "usd",
        "customer": f"cus_Bench{suffix}",
        "customer_account": None,
        "description": f"Rent, 1200 Harbor Street unit {number % 300 + 1}",
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": f"ch_3Bench{suffix}",
        "livemode": False,
        "metadata": {
            "payment_id": str(payment_id),
            "lease_id": str(uuid.uuid4()),
            "organization_id": str(uuid.uuid4()),
        },
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": f"pm_1Bench{suffix}",
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            },
            "link": {"persistent_token": None},
            "us_bank_account": {
                "mandate_options": {},
                "financial_connections": {
                    "permissions": ["payment_method"],
                    "prefetch": [],
                },
                "verification_method": "automatic",
            },
        },
        "payment_method_types": ["card", "link", "us_bank_account"],
        "processing": None,
        "receipt_email": f"tenant.{number}@example.net",
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": "RENT",
        "status": "succeeded",
        "transfer_data": {"destination": f"acct_1Bench{tag}{number % 100:04d}"},
        "transfer_group": f"group_pi_3Bench{suffix}",
    }


def event_body(tag: str, number: int) -> tuple[str, bytes]:
    """One event's id and raw body, indented as Stripe sends them."""
    created = int(time.time())
    event_id = f"evt_bench_{tag}{number:07d}"
    event = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": payment_intent(tag, number, created)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
    }
    return event_id, json.dumps(event, indent=2).encode()


class Exhausted(RuntimeError):
    """A row posted every event built for it."""


class Deliveries:
    """Bodies to post in order, signed a batch at a time just before use."""

    def __init__(
        self, events: list[tuple[str, bytes]], secret: str, *, cycle: bool
    ) -> None:
        self.ids = [event_id for event_id, _ in events]
        self.bodies = [body for _, body in events]
        self.secret = secret
        self.cycle = cycle
        self.taken = 0
        self._headers: list[str] = [""] * len(self.bodies)
        self._signed_until = 0

    def take(self) -> tuple[bytes, str]:
        index = self.taken % len(self.bodies) if self.cycle else self.taken
        if index >= len(self.bodies):
            raise Exhausted(f"all {len(self.bodies):,} events were posted")
        if index == 0 or index >= self._signed_until:
            self._signed_until = min(index + SIGNING_BATCH, len(self.bodies))
            moment = int(time.time())
            for position in range(index, self._signed_until):
                self._headers[position] = sign(
                    self.bodies[position], self.secret, timestamp=moment
                )
        self.taken += 1
        return self.bodies[index], self._headers[index]

    def taken_events(self) -> list[tuple[str, bytes]]:
        """Every event taken so far (each was posted once, unless cycling)."""
        count = min(self.taken, len(self.bodies))
        return list(zip(self.ids[:count], self.bodies[:count], strict=True))


# --- CPU time, per process --------------------------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process on this machine, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # After the command in parentheses: state is field 3, utime 14, stime 15.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time of each PostgreSQL backend, when the server runs on this machine
    (elsewhere its pids are not processes of ours)."""
    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        used = process_cpu_seconds(pid) if name == "postgres" else None
        if used is not None:
            seconds[pid] = used
    return seconds


class CpuMeter:
    """CPU seconds used so far by the API, this load generator, the backends
    that serve this run's database, and Redis; and that database's counters
    of connections opened and of time spent running statements; and how many
    outbox rows were not handed to arq by their request."""

    def __init__(
        self, server_pid: int, monitor: Any, redis: Redis, database: str, queue: str
    ) -> None:
        self.server_pid = server_pid
        self.monitor = monitor
        self.redis = redis
        self.database = database
        self.queue = queue

    async def read(self) -> dict[str, Any]:
        rows = await self.monitor.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.database,
        )
        backends = postgres_cpu_seconds([row["pid"] for row in rows])
        counters = await self.monitor.fetchrow(
            "SELECT sessions, active_time FROM pg_stat_database WHERE datname = $1",
            self.database,
        )
        jobs = await self.monitor.fetchval(
            "SELECT count(*) FROM outbox_jobs WHERE job_name = 'stripe.process_event'"
        )
        info = await self.redis.info("cpu")
        return {
            "api": process_cpu_seconds(self.server_pid) or 0.0,
            "load": time.process_time(),
            "postgres": backends,
            "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
            "sessions": float(counters["sessions"]),
            "active_ms": float(counters["active_time"]),
            # Outbox rows written, less those arq holds: hand-overs deferred.
            "deferred": float(jobs - await self.redis.zcard(self.queue)),
        }

    @staticmethod
    def used(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        postgres = sum(
            seconds - before["postgres"].get(pid, 0.0)
            for pid, seconds in after["postgres"].items()
        )
        return {
            "api": after["api"] - before["api"],
            "load": after["load"] - before["load"],
            "postgres": postgres,
            "redis": after["redis"] - before["redis"],
            "sessions": after["sessions"] - before["sessions"],
            "active_ms": after["active_ms"] - before["active_ms"],
            "deferred": after["deferred"] - before["deferred"],
        }


# --- the load ---------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    what: str
    concurrency: int
    deliveries: Deliveries
    status: int
    duplicate: bool | None = None
    """What the 200 answers must say of ``duplicate``; None for the 400 row."""


@dataclass
class Figures:
    count: int = 0
    elapsed: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)
    """Every answer of the row, warm-up included: ``200``, ``400``, errors."""
    unexpected: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0


def expected(row: Row, answer: httpx.Response) -> bool:
    if answer.status_code != row.status:
        return False
    if row.status == 400:
        return b"invalid_signature" in answer.content
    return bool(answer.json().get("duplicate") is row.duplicate)


async def post_until(
    client: httpx.AsyncClient,
    row: Row,
    until: float,
    figures: Figures,
    samples: list[float] | None,
) -> None:
    while time.perf_counter() < until:
        body, header = row.deliveries.take()
        started = time.perf_counter()
        try:
            answer = await client.post(
                PATH,
                content=body,
                headers={
                    "Stripe-Signature": header,
                    "Content-Type": "application/json; charset=utf-8",
                },
            )
        except httpx.HTTPError as error:
            figures.answers[type(error).__name__] += 1
            figures.unexpected += 1
            continue
        if samples is not None:
            samples.append(time.perf_counter() - started)
        figures.answers[str(answer.status_code)] += 1
        if not expected(row, answer):
            figures.unexpected += 1


async def measure(
    base: str, row: Row, meter: CpuMeter, *, seconds: int, warmup: int
) -> Figures:
    figures = Figures()
    async with contextlib.AsyncExitStack() as clients_stack:
        clients = [
            await clients_stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base,
                    timeout=30,
                    limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                )
            )
            for _ in range(row.concurrency)
        ]
        until = time.perf_counter() + warmup
        await asyncio.gather(
            *(post_until(client, row, until, figures, None) for client in clients)
        )
        samples: list[float] = []
        await asyncio.sleep(STATISTICS_DELAY)
        before = await meter.read()
        started = time.perf_counter()
        await asyncio.gather(
            *(
                post_until(client, row, started + seconds, figures, samples)
                for client in clients
            )
        )
        figures.elapsed = time.perf_counter() - started
        # Backends report their counters once idle, at most once a second.
        await asyncio.sleep(STATISTICS_DELAY)
        figures.cpu = CpuMeter.used(before, await meter.read())
    ordered = sorted(samples)
    figures.count = len(samples)
    if ordered:
        figures.p50_ms = percentile(ordered, 0.50) * 1000
        figures.p95_ms = percentile(ordered, 0.95) * 1000
        figures.p99_ms = percentile(ordered, 0.99) * 1000
    return figures


async def run_row(
    base: str,
    row: Row,
    *,
    server_pid: int,
    dsn: str,
    database: str,
    redis_url: str,
    queue: str,
    seconds: int,
    warmup: int,
) -> Figures:
    monitor = await asyncpg.connect(dsn)
    redis = Redis.from_url(redis_url)
    try:
        meter = CpuMeter(server_pid, monitor, redis, database, queue)
        figures = await measure(base, row, meter, seconds=seconds, warmup=warmup)
    finally:
        await redis.aclose()
        await monitor.close()
    answers = ", ".join(
        f"{count:,} x {answer}" for answer, count in figures.answers.items()
    )
    sys.stdout.write(f"{row.label}: {answers}\n")
    sys.stdout.flush()
    return figures


# --- the checks afterwards --------------------------------------------------


async def check_stored(
    dsn: str, redis_url: str, prefix: str, sent: set[str], forged: set[str]
) -> list[str]:
    """Say what was stored and queued; return what is wrong with it."""
    problems = []
    connection = await asyncpg.connect(dsn)
    try:
        stored = {
            row["id"] for row in await connection.fetch("SELECT id FROM stripe_events")
        }
        jobs = await connection.fetch(
            "SELECT id, arguments->>'event_id' AS event_id FROM outbox_jobs"
            " WHERE job_name = 'stripe.process_event'"
        )
    finally:
        await connection.close()
    per_event = Counter(job["event_id"] for job in jobs)
    sys.stdout.write(
        f"\nnew events sent (warm-ups included): {len(sent):,}\n"
        f"stripe_events rows: {len(stored):,}\n"
        f"outbox_jobs stripe.process_event rows: {len(jobs):,}"
        f" for {len(per_event):,} events\n"
    )
    if stored != sent:
        problems.append(
            f"stripe_events: {len(sent - stored):,} sent events missing,"
            f" {len(stored - sent):,} rows that were not sent as new"
        )
    if stored & forged:
        problems.append(f"{len(stored & forged):,} forged events were stored")
    if len(jobs) != len(stored) or set(per_event) != stored:
        problems.append(
            "outbox_jobs: not exactly one stripe.process_event row per stored event"
        )
    settings = Settings(redis_key_prefix=prefix)
    redis = Redis.from_url(redis_url)
    try:
        queued = {
            member.decode()
            for member in await redis.zrange(settings.arq_queue_name, 0, -1)
        }
    finally:
        await redis.aclose()
    handed = sum(arq_job_id(settings, job["id"]) in queued for job in jobs)
    sys.stdout.write(
        f"outbox rows on the arq queue: {handed:,} of {len(jobs):,}"
        " (the worker's sweep hands over any that are not)\n"
    )
    return problems


# --- the run ----------------------------------------------------------------


def table_row(row: Row, figures: Figures) -> str:
    if row.status == 200:
        unexpected = f"{figures.unexpected:,}"
    else:
        wrong = figures.unexpected
        unexpected = (
            f"{figures.answers['400']:,} (all 400)" if not wrong else f"{wrong:,} bad"
        )
    return (
        f"| {row.label} | {row.what} | {figures.rate:,.0f} | {figures.p50_ms:.1f} |"
        f" {figures.p95_ms:.1f} | {figures.p99_ms:.1f} | {unexpected} |"
    )


def cpu_row(row: Row, figures: Figures) -> str:
    cpu = figures.cpu
    shares = [
        f"{cpu[part] / figures.elapsed:.0%}"
        for part in ("api", "load", "postgres", "redis")
    ]
    if cpu["sessions"]:
        # Backends that ended during the row took their CPU time with them.
        shares[2] = f"≥ {shares[2]}"
    count = max(figures.count, 1)
    return (
        f"| {row.label} | {' | '.join(shares)} | {cpu['api'] / count * 1000:.2f} |"
        f" {cpu['active_ms'] / count:.2f} | {cpu['sessions']:,.0f} |"
        f" {cpu['deferred']:,.0f} |"
    )


def pool_setting(name: str) -> str:
    """The server's value: from the environment, else the setting's default."""
    return os.environ.get(name.upper()) or str(Settings.model_fields[name].default)


def main() -> int:
    parser = argparse.ArgumentParser(description="Stripe webhook ingestion benchmark")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="seconds, per row")
    parser.add_argument(
        "--events",
        type=int,
        default=20_000,
        help="new events built for each new-event row (warm-up included)",
    )
    args = parser.parse_args()
    if min(args.seconds, args.warmup, args.events) < 1:
        parser.error("--seconds, --warmup, --events: at least 1")
    server_url = os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"aa_bench_{secrets.token_hex(4)}"
    prefix = f"aa-bench-{secrets.token_hex(4)}:"
    tag = secrets.token_hex(3)
    port = free_port()

    built = time.perf_counter()
    first = [event_body(f"{tag}a", number) for number in range(args.events)]
    second = [event_body(f"{tag}b", number) for number in range(args.events)]
    forged = [event_body(f"{tag}f", number) for number in range(FORGED_EVENTS)]
    built = time.perf_counter() - built
    sizes = sorted(len(body) for _, body in first)
    sys.stdout.write(
        f"built {2 * args.events + FORGED_EVENTS:,} events in {built:.1f} s;"
        f" bodies of {sizes[0]:,} to {sizes[-1]:,} bytes\n"
    )
    new_10 = Row(
        "new events, C=10",
        "verify, insert, outbox row, commit, hand to arq",
        10,
        Deliveries(first, WEBHOOK_SECRET, cycle=False),
        200,
        duplicate=False,
    )
    new_50 = Row(
        "new events, C=50",
        "the same, 50 at a time",
        50,
        # The Connect endpoint's secret: the second one the endpoint tries.
        Deliveries(second, CONNECT_WEBHOOK_SECRET, cycle=False),
        200,
        duplicate=False,
    )
    forged_10 = Row(
        "forged signature, C=10",
        "verify against both secrets, 400",
        10,
        Deliveries(forged, FORGED_SECRET, cycle=True),
        400,
    )

    with contextlib.ExitStack() as cleanup:
        scratch = Path(tempfile.mkdtemp(prefix=f"{name}-"))
        cleanup.callback(shutil.rmtree, scratch, ignore_errors=True)
        cleanup.callback(delete_redis_keys, redis_url, prefix)
        database_url = asyncio.run(create_database(server_url, name))
        cleanup.callback(lambda: asyncio.run(drop_database(server_url, name)))
        migrations.upgrade(database_url)
        dsn = parse_database_url(database_url).asyncpg_dsn

        env = {
            **os.environ,
            "ENVIRONMENT": "test",
            "PORT": str(port),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "JWT_SECRET": secrets.token_hex(32),
            "EMAIL_BACKEND": "file",
            "EMAIL_FILE_DIR": str(scratch / "mail"),
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET,
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "asset_anchor.cli", "serve", "--host", "127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        cleanup.callback(stop, server)
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)

        rows: list[Row] = []
        results: list[Figures] = []
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:

            def run(row: Row) -> None:
                rows.append(row)
                results.append(
                    runner.run(
                        run_row(
                            base,
                            row,
                            server_pid=server.pid,
                            dsn=dsn,
                            database=name,
                            redis_url=redis_url,
                            queue=Settings(redis_key_prefix=prefix).arq_queue_name,
                            seconds=args.seconds,
                            warmup=args.warmup,
                        )
                    )
                )

            try:
                run(new_10)
                run(new_50)
                run(
                    Row(
                        "redeliveries, C=10",
                        "verify, insert that does nothing, commit",
                        10,
                        # The first row's events, each stored once already.
                        Deliveries(
                            new_10.deliveries.taken_events(),
                            WEBHOOK_SECRET,
                            cycle=True,
                        ),
                        200,
                        duplicate=True,
                    )
                )
                run(forged_10)
            except Exhausted as error:
                sys.stderr.write(f"{rows[-1].label}: {error}; raise --events\n")
                return 1
        stop(server)

        sent = {
            event_id
            for row in (new_10, new_50)
            for event_id, _ in row.deliveries.taken_events()
        }
        forged_ids = set(forged_10.deliveries.ids)
        problems = asyncio.run(check_stored(dsn, redis_url, prefix, sent, forged_ids))

        sys.stdout.write(
            f"\n1 uvicorn process (DB_POOL_SIZE={pool_setting('db_pool_size')},"
            f" DB_MAX_OVERFLOW={pool_setting('db_max_overflow')}),"
            f" {args.seconds} s per row after {args.warmup} s of warm-up;"
            f" C keep-alive httpx clients in one Python process (uvloop).\n"
            f"Server, PostgreSQL, Redis and the load generator share the same"
            f" {os.cpu_count()} cores; Python {sys.version.split()[0]}.\n\n"
            "| row | what | req/s | p50 ms | p95 ms | p99 ms | non-200 |\n"
            "|---|---|---|---|---|---|---|\n"
        )
        for row, figures in zip(rows, results, strict=True):
            sys.stdout.write(table_row(row, figures) + "\n")
        sys.stdout.write(
            "\nCPU used during each row as a share of one core (PostgreSQL: the"
            " backends of this database alive at the row's end; Redis: the whole"
            " server); the API's CPU"
            " time per request; PostgreSQL's time in statements per request"
            " (pg_stat_database.active_time, which each backend publishes at most"
            " once a second); connections the API opened;"
            " outbox rows its requests did not hand to arq (deferred to the"
            " sweep):\n\n"
            "| row | API | load generator | PostgreSQL backends | Redis"
            " | API CPU ms/req | SQL ms/req | new connections | deferred |\n"
            "|---|---|---|---|---|---|---|---|---|\n"
        )
        for row, figures in zip(rows, results, strict=True):
            sys.stdout.write(cpu_row(row, figures) + "\n")
        for row, figures in zip(rows, results, strict=True):
            if figures.unexpected:
                problems.append(
                    f"{row.label}: {figures.unexpected:,} answers other than"
                    f" {row.status} as expected ({dict(figures.answers)})"
                )
        if problems:
            sys.stdout.write("\nFAILED:\n" + "".join(f"- {p}\n" for p in problems))
            return 1
        sys.stdout.write("\nAll answers as expected; stored and queued as sent.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
