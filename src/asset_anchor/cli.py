"""``asset-anchor``: the one entry point for operators and developers.

asset-anchor serve            the API (uvicorn on 0.0.0.0:$PORT)
asset-anchor worker           the background worker (arq)
asset-anchor worker --check   exit 0 if a worker reported in recently
asset-anchor migrate          upgrade the database to the newest schema
asset-anchor jobs list        background jobs (dead ones by default)
asset-anchor jobs retry ID    run a dead job again (or --all-dead)
asset-anchor send-test-email --to ADDRESS
                              check email delivery end to end
asset-anchor billing run-rent [--date YYYY-MM-DD]
                              make the rent charges due now (or on that day)
asset-anchor stripe reconcile [--since YYYY-MM-DD]
                              repair what Stripe's webhooks missed
asset-anchor dev              everything on this machine, embedded servers
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Callable, Generator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from asset_anchor import __version__
from asset_anchor.errors import AppError
from asset_anchor.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from asset_anchor.models import OutboxJob

EXIT_CONFIG = 2


def _fail(message: str) -> int:
    sys.stderr.write(f"asset-anchor: {message}\n")
    return EXIT_CONFIG


def _settings() -> Settings:
    return load_settings()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    settings.require_database_url()
    settings.require_redis_url()
    uvicorn.run(
        "asset_anchor.app:create_app",
        factory=True,
        host=args.host,
        port=settings.port,
        # The app reads the proxy headers itself (asset_anchor.proxy), counting
        # hops from the right; uvicorn's own reading trusts the left-most.
        proxy_headers=False,
        workers=args.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=settings.worker_shutdown_grace_seconds,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from asset_anchor.logging import configure_error_reporting, configure_logging
    from asset_anchor.worker import check_worker_health, run_worker

    settings = _settings()
    settings.require_redis_url()
    configure_logging(level=settings.log_level, fmt=settings.resolved_log_format)
    if args.check:
        return 0 if asyncio.run(check_worker_health(settings)) else 1
    settings.require_database_url()
    configure_error_reporting(settings, component="worker", release=__version__)
    asyncio.run(run_worker(settings))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Upgrade, unless the database is already ahead of this release.

    A rollback redeploys an older release whose pre-deploy step runs this
    command against a database a newer release migrated. Migrations are
    expand-then-contract, so the older code works on the newer schema; the
    right move is to leave the schema alone and say so.
    """
    from asset_anchor import migrations

    settings = _settings()
    url = settings.require_database_url()
    try:
        current = asyncio.run(migrations.database_revision(url))
        if current is not None and current not in migrations.known_revisions():
            sys.stdout.write(
                f"asset-anchor: the database is at revision {current}, newer than"
                " this release knows; leaving the schema as it is.\n"
            )
            return 0
        migrations.upgrade(url, args.revision)
        now = asyncio.run(migrations.database_revision(url))
    except migrations.MigrationsNotFound as error:
        return _fail(str(error))
    sys.stdout.write(f"asset-anchor: the database is at revision {now}.\n")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    settings = _settings()
    settings.require_database_url()
    return asyncio.run(_jobs(settings, args))


async def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    import uuid

    from redis.asyncio import Redis

    from asset_anchor.db import create_engine, create_sessionmaker
    from asset_anchor.jobs import service
    from asset_anchor.jobs.outbox import dispatch_pending
    from asset_anchor.jobs.queue import queue_on

    engine = create_engine(settings, application_name="asset-anchor-cli")
    sessions = create_sessionmaker(engine)
    try:
        if args.jobs_command == "list":
            async with sessions() as session:
                rows = await service.list_jobs(
                    session, state=args.state, limit=args.limit
                )
            _print_jobs(rows)
            return 0

        try:
            ids = [uuid.UUID(value) for value in args.ids]
        except ValueError:
            return _fail("job ids are UUIDs, as `asset-anchor jobs list` shows them")
        redis = Redis.from_url(
            settings.require_redis_url(),
            socket_connect_timeout=settings.redis_timeout_seconds,
            socket_timeout=settings.redis_timeout_seconds,
        )
        try:
            async with sessions() as session:
                if args.all_dead:
                    ids = await service.dead_job_ids(session)
                for outbox_id in ids:
                    await service.retry_dead_job(session, outbox_id)
                await session.commit()
                sent = await dispatch_pending(
                    session, queue_on(redis, settings), settings
                )
        finally:
            await redis.aclose()
        sys.stdout.write(
            f"{len(ids)} job(s) set to run again; {sent} handed to the queue now"
            f"{'' if sent == len(ids) else ', the rest at the next sweep'}.\n"
        )
        return 0
    except AppError as error:
        return _fail(error.detail)
    finally:
        await engine.dispose()


def _print_jobs(rows: Sequence[OutboxJob]) -> None:
    if not rows:
        sys.stdout.write("no jobs\n")
        return
    for row in rows:
        state = "dead" if row.dead_at else "done" if row.completed_at else "pending"
        error = (row.last_error or "").replace("\n", " ")[:100]
        sys.stdout.write(
            f"{row.id}  {row.job_name:<24} {state:<8} tries={row.attempts}"
            f"  created={row.created_at:%Y-%m-%d %H:%M:%S}Z"
            f"{'  error=' + error if error else ''}\n"
        )


def cmd_send_test_email(args: argparse.Namespace) -> int:
    from asset_anchor.email.service import send_test_email
    from asset_anchor.integrations.email import EmailDeliveryError

    settings = _settings()
    backend = settings.resolved_email_backend
    try:
        receipt = asyncio.run(send_test_email(settings, args.to))
    except ValueError as error:
        return _fail(str(error))
    except EmailDeliveryError as error:
        state = "temporary" if error.transient else "permanent"
        sys.stderr.write(
            f"asset-anchor: the test email was NOT sent through {backend} ({state}"
            f" failure): {error}\n"
        )
        return 1
    where = (
        f"written to {settings.email_file_dir}/{receipt.message_id}"
        if receipt.provider == "file"
        else f"accepted by Postmark, MessageID {receipt.message_id}"
    )
    sys.stdout.write(f"asset-anchor: the test email was {where}.\n")
    return 0


# ``--date`` is refused further than this from today: a mistyped year would
# otherwise charge every lease for decades of rent.
RUN_RENT_MAX_DAYS = 62


def cmd_billing(args: argparse.Namespace) -> int:
    from asset_anchor.kit.time import utc_now

    on: date | None = args.date
    if on is not None and abs((on - utc_now().date()).days) > RUN_RENT_MAX_DAYS:
        return _fail(
            f"--date {on.isoformat()} is more than {RUN_RENT_MAX_DAYS} days from"
            " today; nothing was charged"
        )
    settings = _settings()
    settings.require_database_url()
    return asyncio.run(_run_rent(settings, on))


async def _run_rent(settings: Settings, on: date | None) -> int:
    """The hourly rent job, now; safe to repeat (each charge is made once)."""
    from asset_anchor.billing.tasks import rent_run
    from asset_anchor.db import create_engine, create_sessionmaker
    from asset_anchor.kit.time import utc_now

    engine = create_engine(settings, application_name="asset-anchor-cli")
    try:
        ctx = {"settings": settings, "sessionmaker": create_sessionmaker(engine)}
        written, _ = await rent_run(ctx, now=utc_now(), on=on)
    finally:
        await engine.dispose()
    day = f"with {on.isoformat()} as today" if on else "for today at each property"
    sys.stdout.write(
        f"asset-anchor: {written.entries} rent charge(s) made on {written.leases}"
        f" lease(s) {day}; waiting payments applied on"
        f" {written.allocated_leases} lease(s).\n"
    )
    return 0


def cmd_stripe(args: argparse.Namespace) -> int:
    settings = _settings()
    settings.require_database_url()
    if not settings.payments_enabled:
        return _fail("STRIPE_SECRET_KEY is not set; there is nothing to reconcile")
    since = (
        datetime.combine(args.since, time(), tzinfo=UTC)
        if args.since is not None
        else None
    )
    return asyncio.run(_reconcile(settings, since))


async def _reconcile(settings: Settings, since: datetime | None) -> int:
    """The reconciliation cron, now; safe to repeat (each repair is made once)."""
    import httpx
    from redis.asyncio import Redis

    from asset_anchor.db import create_engine, create_sessionmaker
    from asset_anchor.integrations.stripe import StripeError
    from asset_anchor.jobs.queue import queue_on
    from asset_anchor.payments.access import stripe_for
    from asset_anchor.payments.reconcile import reconcile

    engine = create_engine(settings, application_name="asset-anchor-cli")
    redis = Redis.from_url(
        settings.require_redis_url(),
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
    )
    try:
        async with httpx.AsyncClient() as http:
            ctx = {
                "settings": settings,
                "sessionmaker": create_sessionmaker(engine),
                "redis": queue_on(redis, settings),
            }
            report = await reconcile(ctx, stripe_for(settings, http), since=since)
    except StripeError as error:
        sys.stderr.write(f"asset-anchor: Stripe could not be read: {error}\n")
        return 1
    finally:
        await redis.aclose()
        await engine.dispose()
    clamped = " (Stripe keeps 30 days of events)" if report.clamped else ""
    lines = [
        f"asset-anchor: compared Stripe's {report.events_seen} event(s) since"
        f" {report.since:%Y-%m-%d %H:%M}Z{clamped},"
        f" {report.payments_checked} open payment(s) and"
        f" {report.accounts_checked} account(s) awaiting Stripe.",
        f"{len(report.events_stored)} missed event(s) stored and queued:",
        *(f"  {event_id}  {kind}" for event_id, kind in report.events_stored),
        f"{len(report.payments_repaired)} payment(s) brought up to date:",
        *(
            f"  {payment_id}  {outcome}"
            for payment_id, outcome in report.payments_repaired
        ),
        f"{len(report.accounts_repaired)} account(s) brought up to date:",
        *(
            f"  {organization_id}  {outcome}"
            for organization_id, outcome in report.accounts_repaired
        ),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from asset_anchor.kit.email_address import is_plain_address

    if not is_plain_address(args.email.strip()):
        return _fail(f"not an email address: {args.email!r}")
    name = (args.name or "").strip() or args.email.strip().partition("@")[0]
    settings = _settings()
    settings.require_database_url()
    return asyncio.run(_create_admin(settings, args.email, name[:200]))


async def _create_admin(settings: Settings, email: str, name: str) -> int:
    from redis.asyncio import Redis

    from asset_anchor.accounts.service import create_admin
    from asset_anchor.db import create_engine, create_sessionmaker
    from asset_anchor.jobs.outbox import dispatch_pending
    from asset_anchor.jobs.queue import queue_on

    engine = create_engine(settings, application_name="asset-anchor-cli")
    redis = Redis.from_url(
        settings.require_redis_url(),
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
    )
    try:
        async with create_sessionmaker(engine)() as session:
            user, created = await create_admin(
                session, settings, email=email, full_name=name
            )
            needs_password = user.password_hash is None
            await session.commit()
            await dispatch_pending(session, queue_on(redis, settings), settings)
    finally:
        await redis.aclose()
        await engine.dispose()
    account = "a new account" if created else "an existing account"
    link = (
        "a link to choose a password is queued for that address"
        if needs_password
        else "it keeps its password"
    )
    sys.stdout.write(
        f"asset-anchor: {user.email} is now a platform admin ({account}); {link}.\n"
    )
    return 0


def _dev_jwt_secret(data_dir: Path) -> str:
    """A development signing key that survives restarts of ``dev``."""
    path = data_dir / "jwt_secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


@contextmanager
def _embedded_services(data_dir: Path) -> Generator[None, None, None]:
    """Start the embedded servers for whichever URLs the environment lacks."""
    from asset_anchor.embedded import start_postgres, start_redis

    stops: list[Callable[[], None]] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            postgres = start_postgres(data_dir, "asset_anchor")
            stops.append(postgres.stop)
            os.environ["DATABASE_URL"] = postgres.url
        if not os.environ.get("REDIS_URL"):
            redis = start_redis(data_dir)
            stops.append(redis.stop)
            os.environ["REDIS_URL"] = redis.url
        yield
    finally:
        for stop in reversed(stops):
            stop()


def cmd_dev(args: argparse.Namespace) -> int:
    from asset_anchor import migrations
    from asset_anchor.embedded import EmbeddedUnavailable

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ENVIRONMENT", "development")
    os.environ.setdefault("JWT_SECRET", _dev_jwt_secret(data_dir))
    os.environ.setdefault("EMAIL_FILE_DIR", str(data_dir / "mail"))
    try:
        with _embedded_services(data_dir):
            settings = _settings()
            migrations.upgrade(settings.require_database_url())
            asyncio.run(_serve_dev(settings, args.host))
    except EmbeddedUnavailable as error:
        return _fail(str(error))
    return 0


async def _serve_dev(settings: Settings, host: str) -> None:
    """The API and the worker in one process, stopped together by Ctrl-C."""
    import uvicorn

    from asset_anchor.app import create_app
    from asset_anchor.worker import WorkerSupervisor

    class DevServer(uvicorn.Server):
        """Stops on SIGINT/SIGTERM without re-raising them afterwards.

        uvicorn re-raises a captured signal once it has shut down, which would
        kill this process before the worker and embedded servers stop.
        """

        @contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, self.handle_exit, signum, None)
            try:
                yield
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)

    app = create_app(settings)
    server = DevServer(
        uvicorn.Config(
            app,
            host=host,
            port=settings.port,
            proxy_headers=False,
            log_config=None,
            access_log=False,
            server_header=False,
        )
    )
    supervisor = WorkerSupervisor(settings)
    worker = asyncio.create_task(supervisor.run())
    base = f"http://{host}:{settings.port}"
    sys.stdout.write(
        f"\nAsset Anchor {__version__} (development)\n"
        f"  API docs: {base}/docs\n  Health:   {base}/health\n"
        "  Stop with Ctrl-C.\n\n"
    )
    sys.stdout.flush()
    try:
        await server.serve()
    finally:
        supervisor.request_stop()
        await worker


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asset-anchor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's port
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="uvicorn worker processes (default: WEB_CONCURRENCY or 1)",
    )
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="run the background worker")
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a worker has reported in recently, else 1",
    )
    worker.set_defaults(handler=cmd_worker)

    migrate = commands.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(handler=cmd_migrate)

    jobs = commands.add_parser("jobs", help="list and replay background jobs")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_commands.add_parser("list", help="list jobs, newest first")
    listing.add_argument(
        "--state", choices=["dead", "pending", "completed"], default="dead"
    )
    listing.add_argument("--limit", type=int, default=50)
    retry = jobs_commands.add_parser("retry", help="run dead jobs again")
    targets = retry.add_mutually_exclusive_group(required=True)
    targets.add_argument("ids", nargs="*", default=[], metavar="ID")
    targets.add_argument("--all-dead", action="store_true")
    jobs.set_defaults(handler=cmd_jobs)

    test_email = commands.add_parser(
        "send-test-email", help="send a test email through the configured back end"
    )
    test_email.add_argument("--to", required=True, metavar="ADDRESS")
    test_email.set_defaults(handler=cmd_send_test_email)

    admin = commands.add_parser(
        "create-admin",
        help="make a platform admin and email them a link to choose a password",
    )
    admin.add_argument("--email", required=True, metavar="ADDRESS")
    admin.add_argument("--name", default=None, metavar="FULL_NAME")
    admin.set_defaults(handler=cmd_create_admin)

    billing = commands.add_parser("billing", help="run the billing schedule by hand")
    billing_commands = billing.add_subparsers(dest="billing_command", required=True)
    run_rent = billing_commands.add_parser(
        "run-rent", help="make the rent charges that are due (safe to repeat)"
    )
    run_rent.add_argument(
        "--date",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="take this date as today at every property (default: each"
        " property's own date now)",
    )
    billing.set_defaults(handler=cmd_billing)

    stripe = commands.add_parser("stripe", help="Stripe maintenance by hand")
    stripe_commands = stripe.add_subparsers(dest="stripe_command", required=True)
    reconcile = stripe_commands.add_parser(
        "reconcile",
        help="store the events webhooks missed and bring open payments up to"
        " date (safe to repeat)",
    )
    reconcile.add_argument(
        "--since",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="compare from the start of this day, UTC (default: from where the"
        " last run reached)",
    )
    stripe.set_defaults(handler=cmd_stripe)

    dev = commands.add_parser("dev", help="API and worker on embedded servers")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--data-dir", default=".data")
    dev.set_defaults(handler=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigurationError as error:
        problems = error.problems
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in item['loc']).upper()}: {item['msg']}"
            for item in error.errors()
        ]
    else:
        return result
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return _fail(f"refusing to start, the configuration is not usable:\n{lines}")


if __name__ == "__main__":
    raise SystemExit(main())
