"""The application shell: error envelope, request ids, limits, headers, CORS."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from asset_anchor.app import create_app, lifespan
from asset_anchor.errors import PROBLEM_JSON, Conflict
from asset_anchor.settings import Settings
from tests.conftest import client_for

probe = APIRouter(prefix="/api/v1/probe", tags=["probe"])


class Payload(BaseModel):
    name: str = Field(min_length=1)
    amount: int = Field(ge=0)


class LeaseNotActive(Conflict):
    code = "lease_not_active"
    title = "The lease is not active"


@probe.post("/echo")
async def echo(payload: Payload) -> Payload:
    return payload


@probe.get("/boom")
async def boom() -> None:
    raise RuntimeError("SELECT secret_column FROM users WHERE password='hunter2'")


@probe.get("/conflict")
async def conflict() -> None:
    raise LeaseNotActive("Lease 42 ended on 2026-01-31.", lease_id="42")


@probe.get("/database-down")
async def database_down() -> None:
    raise ConnectionRefusedError("connection to the database refused")


@pytest.fixture
async def probe_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(probe)
    async with client_for(app) as client:
        yield client


def assert_problem(
    response: httpx.Response, status: int, code: str
) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:asset-anchor:problem:{code}"
    assert body["request_id"] == response.headers["x-request-id"]
    return body


class TestErrorEnvelope:
    async def test_unknown_route_is_a_404_problem(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.get("/api/v1/no-such-thing")

        body = assert_problem(response, 404, "not_found")
        assert body["instance"] == "/api/v1/no-such-thing"

    async def test_wrong_method_is_a_405_problem(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.delete("/api/v1/probe/echo")

        assert_problem(response, 405, "method_not_allowed")
        assert "POST" in response.headers["allow"]

    async def test_validation_error_lists_fields_without_echoing_input(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.post(
            "/api/v1/probe/echo", json={"name": "", "amount": -5}
        )

        body = assert_problem(response, 422, "validation_error")
        errors = body["errors"]
        assert isinstance(errors, list)
        assert {tuple(error["loc"]) for error in errors} == {
            ("body", "name"),
            ("body", "amount"),
        }
        assert all(set(error) == {"loc", "message", "type"} for error in errors)
        assert "-5" not in response.text

    async def test_malformed_json_is_a_validation_problem(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.post(
            "/api/v1/probe/echo",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )

        assert_problem(response, 422, "validation_error")

    async def test_unexpected_exception_is_a_500_that_leaks_nothing(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.get("/api/v1/probe/boom")

        body = assert_problem(response, 500, "internal_error")
        assert "request id" in str(body["detail"])
        for leaked in (
            "SELECT",
            "secret_column",
            "hunter2",
            "RuntimeError",
            "Traceback",
        ):
            assert leaked not in response.text

    async def test_domain_error_keeps_its_status_code_and_fields(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.get("/api/v1/probe/conflict")

        body = assert_problem(response, 409, "lease_not_active")
        assert body["detail"] == "Lease 42 ended on 2026-01-31."
        assert body["lease_id"] == "42"


class TestRequestId:
    async def test_a_sane_request_id_is_kept(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})

        assert response.headers["x-request-id"] == "abc-123"

    @pytest.mark.parametrize(
        "header", ["", "has spaces", "x" * 129, "semi;colon", "<script>"]
    )
    async def test_an_insane_request_id_is_replaced(
        self, client: httpx.AsyncClient, header: str
    ) -> None:
        response = await client.get("/health/live", headers={"X-Request-ID": header})

        assert response.headers["x-request-id"] != header
        assert len(response.headers["x-request-id"]) == 32

    async def test_each_request_gets_its_own_id(
        self, client: httpx.AsyncClient
    ) -> None:
        first = await client.get("/health/live")
        second = await client.get("/health/live")

        assert first.headers["x-request-id"] != second.headers["x-request-id"]


class TestBodyLimit:
    async def test_declared_oversize_body_is_refused_with_413(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.post(
            "/api/v1/probe/echo",
            content=b"x" * (1_048_576 + 1),
            headers={"content-type": "application/json"},
        )

        assert_problem(response, 413, "payload_too_large")

    async def test_an_absurdly_long_declared_length_is_a_413(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        response = await probe_client.post(
            "/api/v1/probe/echo",
            content=b'{"name": "Unit 4B", "amount": 1}',
            headers={"content-type": "application/json", "content-length": "9" * 5000},
        )

        assert_problem(response, 413, "payload_too_large")

    async def test_chunked_oversize_body_is_refused_with_413(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"x" * 65_536

        response = await probe_client.post(
            "/api/v1/probe/echo",
            content=chunks(),
            headers={"content-type": "application/json"},
        )

        assert_problem(response, 413, "payload_too_large")

    @pytest.mark.parametrize(
        "declared",
        [b"12abc", b"-1", b"1.5", b" ", b"\xb2"],
        ids=["letters", "negative", "fraction", "blank", "superscript"],
    )
    async def test_a_malformed_content_length_is_a_400_problem(
        self, probe_client: httpx.AsyncClient, declared: bytes
    ) -> None:
        response = await probe_client.post(
            "/api/v1/probe/echo",
            content=b'{"name": "Unit 4B", "amount": 1}',
            headers=[
                (b"content-type", b"application/json"),
                (b"content-length", declared),
            ],
        )

        assert_problem(response, 400, "invalid_content_length")

    async def test_chunked_body_under_the_limit_reaches_the_route(
        self, probe_client: httpx.AsyncClient
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "Unit 4B",'
            yield b' "amount": 125000}'

        response = await probe_client.post(
            "/api/v1/probe/echo",
            content=chunks(),
            headers={"content-type": "application/json"},
        )

        assert response.status_code == 200
        assert response.json() == {"name": "Unit 4B", "amount": 125000}


class TestSecurityHeaders:
    async def test_api_responses_carry_security_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/health/live")

        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers

    async def test_interactive_docs_are_not_blocked_by_the_api_policy(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/docs")

        assert response.status_code == 200
        assert "content-security-policy" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"


class TestCors:
    async def test_preflight_from_an_allowed_origin_is_answered(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(
            "/api/v1/anything",
            headers={
                "Origin": "https://app.example.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
            },
        )

        assert response.status_code == 200
        allowed = response.headers["access-control-allow-origin"]
        assert allowed == "https://app.example.test"
        assert "x-request-id" in response.headers

    async def test_a_preflight_carries_the_security_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(
            "/api/v1/anything",
            headers={
                "Origin": "https://app.example.test",
                "Access-Control-Request-Method": "GET",
                "X-Request-ID": "preflight-1",
            },
        )

        assert response.status_code == 200
        assert response.headers["x-request-id"] == "preflight-1"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in response.headers["content-security-policy"]

    async def test_preflight_from_another_origin_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(
            "/api/v1/anything",
            headers={
                "Origin": "https://evil.example",
                "Access-Control-Request-Method": "POST",
            },
        )

        body = assert_problem(response, 400, "cors_refused")
        assert "access-control-allow-origin" not in response.headers
        assert "origin" in str(body["detail"])
        assert body["instance"] == "/api/v1/anything"

    @pytest.mark.parametrize(
        ("request_headers", "refused"),
        [
            ({"Access-Control-Request-Method": "TRACE"}, "method"),
            (
                {
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "X-Forbidden",
                },
                "headers",
            ),
        ],
        ids=["method", "header"],
    )
    async def test_a_preflight_asking_too_much_is_a_problem(
        self,
        client: httpx.AsyncClient,
        request_headers: dict[str, str],
        refused: str,
    ) -> None:
        response = await client.options(
            "/api/v1/anything",
            headers={"Origin": "https://app.example.test", **request_headers},
        )

        body = assert_problem(response, 400, "cors_refused")
        assert refused in str(body["detail"])
        assert response.headers["x-content-type-options"] == "nosniff"

    async def test_an_ordinary_answer_carries_cors_and_our_own_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/health/live", headers={"Origin": "https://app.example.test"}
        )

        assert response.status_code == 200
        allowed = response.headers["access-control-allow-origin"]
        assert allowed == "https://app.example.test"
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
        assert len(response.headers["x-request-id"]) == 32
        assert response.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize(
        ("method", "path", "status", "code"),
        [
            ("POST", "/api/v1/probe/echo", 413, "payload_too_large"),
            ("GET", "/api/v1/probe/boom", 500, "internal_error"),
            ("GET", "/api/v1/probe/database-down", 503, "database_unavailable"),
        ],
        ids=["413", "500", "503"],
    )
    async def test_answers_of_the_last_resort_layer_are_readable_cross_origin(
        self,
        probe_client: httpx.AsyncClient,
        method: str,
        path: str,
        status: int,
        code: str,
    ) -> None:
        response = await probe_client.request(
            method,
            path,
            content=b"x" * (1_048_576 + 1) if method == "POST" else None,
            headers={
                "Origin": "https://app.example.test",
                "content-type": "application/json",
            },
        )

        assert_problem(response, status, code)
        allowed = response.headers["access-control-allow-origin"]
        assert allowed == "https://app.example.test"
        assert response.headers["access-control-allow-credentials"] == "true"


class TestStartup:
    async def test_what_exists_at_start_is_kept_out_of_the_collector(
        self, settings: Settings
    ) -> None:
        app = create_app(settings)
        gc.unfreeze()

        async with lifespan(app):
            frozen = gc.get_freeze_count()

        assert frozen > 0
