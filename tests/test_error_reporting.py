"""Unexpected errors reach Sentry (through a capturing transport, never the network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from fastapi import APIRouter
from pydantic import SecretStr
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from asset_anchor.app import create_app, lifespan
from asset_anchor.settings import Settings
from tests.conftest import client_for

router = APIRouter(prefix="/api/v1/sentry-probe", tags=["sentry-probe"])


@router.post("/boom")
async def boom() -> None:
    raise ZeroDivisionError("rent split by zero tenants")


class CapturingTransport(Transport):
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.events: list[dict[str, Any]] = []
        self.inits = 0

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapturingTransport]:
    capturing = CapturingTransport()
    real_init = sentry_sdk.init

    def init_with_transport(*args: Any, **kwargs: Any) -> Any:
        capturing.inits += 1
        return real_init(*args, transport=capturing, **kwargs)

    monkeypatch.setattr(sentry_sdk, "init", init_with_transport)
    yield capturing
    sentry_sdk.get_client().close()
    real_init()


class TestErrorReporting:
    async def test_an_unhandled_error_is_reported_without_personal_data(
        self, settings: Settings, transport: CapturingTransport
    ) -> None:
        configured = settings.model_copy(
            update={"sentry_dsn": SecretStr("https://key@sentry.invalid/1")}
        )
        app = create_app(configured)
        app.include_router(router)

        async with lifespan(app), client_for(app) as client:
            response = await client.post(
                "/api/v1/sentry-probe/boom",
                json={"password": "correct horse battery staple"},
                headers={"Authorization": "Bearer secret-token-value"},
            )
        sentry_sdk.flush()

        assert response.status_code == 500
        errors = [
            event
            for event in transport.events
            if any(
                value.get("type") == "ZeroDivisionError"
                for value in event.get("exception", {}).get("values", [])
            )
        ]
        assert len(errors) == 1
        reported = str(errors[0])
        assert "correct horse" not in reported
        assert "secret-token-value" not in reported
        assert errors[0]["environment"] == "test"
        assert transport.inits == 1

    async def test_nothing_is_initialised_without_a_dsn(
        self, settings: Settings, transport: CapturingTransport
    ) -> None:
        app = create_app(settings)
        app.include_router(router)

        async with lifespan(app), client_for(app) as client:
            await client.post("/api/v1/sentry-probe/boom")

        assert transport.inits == 0
        assert transport.events == []
