"""The application factory: configuration, lifespan, middleware, routes."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException

from asset_anchor import __version__
from asset_anchor.accounts.endpoints import admin_router, auth_router, me_router
from asset_anchor.billing.endpoints import entries_router
from asset_anchor.billing.endpoints import leases_router as ledger_router
from asset_anchor.billing.report_endpoints import reports_router, statements_router
from asset_anchor.db import create_engine, create_sessionmaker
from asset_anchor.email.endpoints import router as email_router
from asset_anchor.errors import (
    PROBLEM_JSON,
    AppError,
    MethodNotAllowed,
    NotFound,
    RequestValidationFailed,
    problem_body,
)
from asset_anchor.health.endpoints import router as health_router
from asset_anchor.health.service import HealthMonitor
from asset_anchor.invitations.endpoints import (
    lease_invitations,
    organization_invitations,
)
from asset_anchor.invitations.endpoints import router as invitations_router
from asset_anchor.jobs.queue import queue_on
from asset_anchor.kit.ratelimit import RateLimiter
from asset_anchor.leases.endpoints import router as leases_router
from asset_anchor.logging import (
    configure_error_reporting,
    configure_logging,
    get_logger,
)
from asset_anchor.middleware import CorsMiddleware, RequestContextMiddleware
from asset_anchor.organizations.endpoints import router as organizations_router
from asset_anchor.payments.connect_endpoints import admin_router as connect_admin
from asset_anchor.payments.connect_endpoints import router as connect_router
from asset_anchor.payments.endpoints import router as payments_router
from asset_anchor.payments.endpoints import staff_router as online_payments_router
from asset_anchor.payments.endpoints import webhooks_router
from asset_anchor.payments.refund_endpoints import router as refunds_router
from asset_anchor.properties.endpoints import properties_router, units_router
from asset_anchor.proxy import ForwardedHeadersMiddleware
from asset_anchor.settings import Settings, get_settings
from asset_anchor.tenants.endpoints import router as tenant_leases_router

log = get_logger(__name__)

API_PREFIX = "/api/v1"


def create_redis(settings: Settings) -> Redis:
    """The API's shared Redis client: short timeouts, no retries hiding outages."""
    client: Redis = Redis.from_url(
        settings.require_redis_url(),
        socket_connect_timeout=settings.redis_timeout_seconds,
        socket_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
    return client


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Own the engine and the Redis pool for the life of the process.

    Neither connects here: the API starts while a dependency is down, reports
    it on ``/health`` and recovers when it returns.
    """
    settings: Settings = app.state.settings
    engine = create_engine(settings, application_name="asset-anchor-api")
    redis = create_redis(settings)
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.redis = redis
    app.state.queue = queue_on(redis, settings)
    app.state.health = HealthMonitor(settings)
    # Calls to the outside world a request cannot wait for (Stripe), sharing
    # connections; each call sets its own timeout.
    app.state.http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10)
    )
    app.state.rate_limiter = RateLimiter(
        redis,
        prefix=settings.redis_key_prefix,
        timeout_seconds=settings.redis_timeout_seconds,
    )
    # What exists now (modules, the app and its routes) lives as long as the
    # process: moved out of the collector's generations, it no longer makes
    # every full collection walk it, which stalled all requests in flight.
    gc.collect()
    gc.freeze()
    log.info("app.started", environment=settings.environment, version=__version__)
    try:
        yield
    finally:
        await app.state.http.aclose()
        await redis.aclose()
        await engine.dispose()
        log.info("app.stopped")


def _operation_id(route: APIRoute) -> str:
    """``<tag>_<action>``: the generated client's function names."""
    return f"{route.tags[0]}_{route.name}" if route.tags else route.name


def _problem(request: Request, error: AppError) -> JSONResponse:
    body = problem_body(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        extra=error.extra,
    )
    return JSONResponse(
        body, status_code=error.status, headers=error.headers, media_type=PROBLEM_JSON
    )


async def _on_app_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AppError)
    return _problem(request, error)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    known: AppError
    if error.status_code == 404:
        known = NotFound(f"No resource at {request.url.path}.")
    elif error.status_code == 405:
        known = MethodNotAllowed(f"{request.method} is not allowed here.")
    else:
        phrase = HTTPStatus(error.status_code).phrase
        return JSONResponse(
            problem_body(
                status=error.status_code,
                code=phrase.lower().replace(" ", "_").replace("-", "_"),
                title=phrase,
                detail=str(error.detail),
                instance=request.url.path,
                request_id=getattr(request.state, "request_id", None),
            ),
            status_code=error.status_code,
            headers=error.headers,
            media_type=PROBLEM_JSON,
        )
    response = _problem(request, known)
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # The offending input is not echoed back: it may be a password.
    errors: list[dict[str, Any]] = [
        {
            "loc": list(item.get("loc", ())),
            "message": item.get("msg", "invalid"),
            "type": item.get("type", "value_error"),
        }
        for item in error.errors()
    ]
    return _problem(
        request,
        RequestValidationFailed(
            "One or more fields are invalid; see errors.", errors=errors
        ),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. ``uvicorn --factory asset_anchor.app:create_app`` calls this."""
    settings = settings or get_settings()
    configure_logging(level=settings.log_level, fmt=settings.resolved_log_format)
    configure_error_reporting(settings, component="api", release=__version__)

    app = FastAPI(
        title="Asset Anchor API",
        version=__version__,
        summary="Property management: portfolios, leases, rent, maintenance.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings

    app.add_exception_handler(AppError, _on_app_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)

    # The last added is the outermost: CORS wraps the request context, so that
    # the answers it makes itself (413, 500, 503) carry the CORS headers too.
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_request_body_bytes,
        hsts=settings.is_production,
    )
    app.add_middleware(
        CorsMiddleware,
        hsts=settings.is_production,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-ID",
        ],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
    # Outermost: every layer below sees the client's address, not the proxy's.
    app.add_middleware(
        ForwardedHeadersMiddleware,
        trusted=settings.forwarded_allow_ips,
        hops=settings.forwarded_hops,
    )

    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(me_router)
    app.include_router(admin_router)
    app.include_router(email_router)
    app.include_router(organizations_router)
    app.include_router(organization_invitations)
    app.include_router(properties_router)
    app.include_router(units_router)
    app.include_router(leases_router)
    app.include_router(tenant_leases_router)
    app.include_router(lease_invitations)
    app.include_router(ledger_router)
    app.include_router(entries_router)
    app.include_router(payments_router)
    app.include_router(online_payments_router)
    app.include_router(connect_router)
    app.include_router(connect_admin)
    app.include_router(refunds_router)
    app.include_router(webhooks_router)
    app.include_router(statements_router)
    app.include_router(reports_router)
    app.include_router(invitations_router)
    return app
