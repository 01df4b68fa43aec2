"""Request dependencies every domain's endpoints share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from asset_anchor.accounts.limits import AuthGuard
from asset_anchor.accounts.service import Client
from asset_anchor.logging import current_context
from asset_anchor.settings import Settings


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _guard(request: Request) -> AuthGuard:
    return AuthGuard(request.app.state.rate_limiter)


async def _client(request: Request) -> Client:
    request_id = current_context().get("request_id")
    return Client(
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=str(request_id) if request_id is not None else None,
    )


SettingsDep = Annotated[Settings, Depends(_settings)]
GuardDep = Annotated[AuthGuard, Depends(_guard)]
"""The shared rate limiter (Redis, with a per-instance fallback)."""
ClientDep = Annotated[Client, Depends(_client)]
"""Where the request came from: address, user agent, request id."""
