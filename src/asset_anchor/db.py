"""The database: URL handling, the engine, sessions and the declarative base.

Sessions commit in exactly two places: the request's session dependency (before
the response is sent) and the worker's job wrapper. Services only flush.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import BindParameter, Uuid, bindparam
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from asset_anchor.errors import (
    AppError,
    DatabaseBusy,
    DatabaseTimeout,
    DatabaseUnavailable,
)
from asset_anchor.jobs.outbox import discard_pending, dispatch_pending
from asset_anchor.settings import ConfigurationError, Settings

_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# libpq query parameters that we translate or pass through; anything else is a
# configuration mistake better reported at start than as a TypeError later.
_KNOWN_QUERY = {"sslmode", "ssl", "host", "port", "application_name", "connect_timeout"}


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the database is, in the two forms our drivers want."""

    sqlalchemy_url: URL
    """``postgresql+asyncpg://…`` without libpq-only parameters."""
    asyncpg_dsn: str
    """``postgresql://…`` as asyncpg's own ``connect`` understands it."""
    connect_args: dict[str, Any]


def parse_database_url(raw: str) -> DatabaseTarget:
    """Accept the URL forms hosting platforms hand out and pick asyncpg.

    ``postgres://`` and ``postgresql://`` become ``postgresql+asyncpg://``;
    ``sslmode=require`` (which asyncpg refuses as a keyword through SQLAlchemy)
    becomes asyncpg's ``ssl`` argument.
    """
    try:
        url = make_url(raw.strip())
    except sa_exc.ArgumentError as error:
        raise ConfigurationError(["DATABASE_URL is not a valid URL"]) from error
    if url.drivername not in _SCHEMES:
        raise ConfigurationError(
            [f"DATABASE_URL must be a PostgreSQL URL, not {url.drivername}://"]
        )
    unknown = set(url.query) - _KNOWN_QUERY
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ConfigurationError([f"DATABASE_URL has unsupported parameters: {names}"])

    query = dict(url.query)
    connect_args: dict[str, Any] = {}
    mode = query.pop("sslmode", None) or query.pop("ssl", None)
    if mode is not None:
        if not isinstance(mode, str) or mode not in _SSL_MODES:
            raise ConfigurationError([f"DATABASE_URL has an unknown sslmode {mode!r}"])
        connect_args["ssl"] = mode
    application_name = query.pop("application_name", None)
    if isinstance(application_name, str):
        connect_args["server_settings"] = {"application_name": application_name}
    query.pop("connect_timeout", None)

    sqlalchemy_url = url.set(drivername="postgresql+asyncpg", query=query)
    asyncpg_url = url.set(drivername="postgresql")
    return DatabaseTarget(
        sqlalchemy_url=sqlalchemy_url,
        asyncpg_dsn=asyncpg_url.render_as_string(hide_password=False),
        connect_args=connect_args,
    )


def create_engine(
    settings: Settings, *, application_name: str = "asset-anchor"
) -> AsyncEngine:
    """An engine whose pool and statements fail fast instead of piling up."""
    target = parse_database_url(settings.require_database_url())
    server_settings = {
        "application_name": application_name,
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "idle_in_transaction_session_timeout": str(
            settings.db_statement_timeout_ms * 6
        ),
        "timezone": "UTC",
        **target.connect_args.get("server_settings", {}),
    }
    connect_args = {
        **target.connect_args,
        "timeout": settings.db_connect_timeout_seconds,
        "server_settings": server_settings,
    }
    return create_async_engine(
        target.sqlalchemy_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
        # A failed statement's parameters (a password hash, an address) must
        # never reach a log line or Sentry through the exception's text.
        hide_parameters=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit before the response, else roll back.

    An error whose class sets ``keeps_work`` (a failed sign-in, which must
    record the failure) is answered after the work so far is committed.

    Declared with ``scope="function"`` so that the commit runs when the route
    returns and before FastAPI sends the response: a commit that fails becomes
    an error response, never a 200 for work that was not saved. Jobs the
    request wrote to the outbox are handed to the queue after the commit, and
    dropped with a rollback.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        kept: AppError | None = None
        try:
            try:
                yield session
            except AppError as error:
                if not error.keeps_work:
                    raise
                kept = error
            await session.commit()
        except BaseException:
            discard_pending(session)
            await session.rollback()
            raise
        # Only now, with the work saved, do its background jobs exist.
        await dispatch_pending(
            session, request.app.state.queue, request.app.state.settings
        )
        if kept is not None:
            raise kept


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def classify_database_error(error: BaseException) -> AppError | None:
    """Turn a failure of the database itself into a 503; leave bugs alone."""
    cause: BaseException | None = error
    if isinstance(error, sa_exc.DBAPIError):
        cause = error.orig.__cause__ or error.orig if error.orig else error
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailable("No database connection became free in time.")
    if isinstance(cause, asyncpg.QueryCanceledError) or isinstance(
        error, asyncio.TimeoutError | TimeoutError
    ):
        return DatabaseTimeout()
    if isinstance(cause, asyncpg.DeadlockDetectedError | asyncpg.SerializationError):
        # PostgreSQL gave up one of two transactions; trying again works.
        return DatabaseBusy()
    if isinstance(
        cause,
        ConnectionError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.InterfaceError
        | ssl.SSLError,
    ) or (isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated):
        return DatabaseUnavailable()
    if isinstance(error, OSError) and error.errno is not None:
        return DatabaseUnavailable()
    return None


def violated_constraint(error: sa_exc.IntegrityError) -> str | None:
    """The name of the constraint an INSERT or UPDATE broke, when PostgreSQL says."""
    cause = error.orig.__cause__ if error.orig is not None else None
    name = getattr(cause, "constraint_name", None)
    return name if isinstance(name, str) else None


async def flush_or_conflict(
    session: AsyncSession, conflicts: Mapping[str, type[AppError]]
) -> None:
    """Flush in a savepoint; breaking one of the named constraints raises its error.

    The service checks first, for a clear answer; this turns the race that a
    check cannot close (two requests at once) into the same answer instead of
    a 500, and leaves the transaction usable.
    """
    try:
        async with session.begin_nested():
            await session.flush()
    except sa_exc.IntegrityError as error:
        known = conflicts.get(violated_constraint(error) or "")
        if known is None:
            raise
        raise known() from error


def uuid_array(ids: Iterable[uuid.UUID]) -> BindParameter[Any]:
    """Many ids as one array parameter, for ``column == any_(uuid_array(ids))``.

    An ``IN`` list binds one parameter per id; one array keeps the statement
    (and its cached plan) the same whatever the page size.
    """
    array: Any = ARRAY(Uuid())
    return bindparam(None, list(ids), type_=array, unique=True)
