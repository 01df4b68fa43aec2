"""Email goes out through the worker: never for rolled-back work, never twice."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.connections import create_pool
from arq.worker import Retry
from fastapi import APIRouter
from pydantic import SecretStr
from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.app import create_app, lifespan
from asset_anchor.db import SessionDep
from asset_anchor.email.service import queue_email, suppress
from asset_anchor.errors import Conflict
from asset_anchor.jobs import service
from asset_anchor.jobs.outbox import dispatch_pending
from asset_anchor.jobs.queue import deserialize, serialize
from asset_anchor.jobs.runner import run_outbox_job
from asset_anchor.jobs.tasks import sweep_outbox
from asset_anchor.kit.time import utc_now
from asset_anchor.models import Email, EmailSuppression, OutboxJob
from asset_anchor.settings import Settings
from asset_anchor.worker import redis_settings, shutdown, startup
from tests.conftest import REDIS_PREFIX, client_for, make_settings
from tests.jobs.conftest import drain
from tests.support.proxy import free_port

POSTMARK = "https://postmark.test"
TOKEN = "postmark-server-token-for-tests"

router = APIRouter(prefix="/api/v1/greetings", tags=["greetings"])


@router.post("/{address}", status_code=202)
async def greet(address: str, session: SessionDep) -> dict[str, str]:
    email = queue_email(
        session,
        kind="test",
        to_address=address,
        to_name="Dana Tenant",
        context={"sent_at": utc_now().isoformat()},
    )
    return {"email_id": str(email.id)}


@router.post("/{address}/then-fail")
async def greet_then_fail(address: str, session: SessionDep) -> None:
    queue_email(
        session,
        kind="test",
        to_address=address,
        context={"sent_at": "2026-12-01T10:00:00+00:00"},
    )
    await session.flush()
    raise Conflict("changed my mind")


Reply = httpx.Response | Exception


class FakePostmark:
    """Postmark's /email endpoint at the HTTP layer; answers from a script."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.requests: list[httpx.Request] = []
        self.accepted: list[dict[str, Any]] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.script.pop(0) if self.script else self.ok()
        if isinstance(reply, Exception):
            raise reply
        if reply.status_code == 200:
            self.accepted.append(json.loads(request.content))
        return reply

    @staticmethod
    def ok() -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "ErrorCode": 0,
                "Message": "OK",
                "MessageID": str(uuid.uuid4()),
                "SubmittedAt": "2026-12-03T10:00:00Z",
                "To": "someone@example.test",
            },
        )

    @staticmethod
    def refuse(status: int, code: int, message: str) -> httpx.Response:
        return httpx.Response(status, json={"ErrorCode": code, "Message": message})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.answer))


@pytest.fixture
def postmark() -> FakePostmark:
    return FakePostmark()


@pytest.fixture
def mail_settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        redis_key_prefix=f"{REDIS_PREFIX}{uuid.uuid4().hex[:8]}:",
        email_backend="postmark",
        postmark_api_token=TOKEN,
        postmark_api_url=POSTMARK,
        job_retry_base_seconds=1,
        job_retry_max_seconds=4,
    )


@pytest.fixture(autouse=True)
async def clean_tables(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[None]:
    async def clear() -> None:
        async with committed_sessionmaker.begin() as session:
            for model in (OutboxJob, Email, EmailSuppression):
                await session.execute(delete(model))

    await clear()
    yield
    await clear()


@pytest.fixture
async def worker_ctx(
    mail_settings: Settings, postmark: FakePostmark
) -> AsyncIterator[dict[str, Any]]:
    queue = await create_pool(
        redis_settings(mail_settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=mail_settings.arq_queue_name,
    )
    async with postmark.client() as http:
        ctx: dict[str, Any] = {"settings": mail_settings, "http": http, "redis": queue}
        await startup(ctx)
        yield ctx
        await shutdown(ctx)
    await queue.aclose()


@pytest.fixture
async def api(mail_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(mail_settings)
    app.include_router(router)
    async with lifespan(app), client_for(app) as client:
        yield client


async def emails(sessions: async_sessionmaker[AsyncSession]) -> list[Email]:
    async with sessions() as session:
        return list(await session.scalars(select(Email)))


async def jobs(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxJob]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxJob)))


async def commit_email(
    sessions: async_sessionmaker[AsyncSession], address: str = "tenant@example.test"
) -> tuple[Email, OutboxJob]:
    async with sessions.begin() as session:
        email = queue_email(
            session,
            kind="test",
            to_address=address,
            to_name="Dana Tenant",
            context={"sent_at": "2026-12-01T10:00:00+00:00"},
        )
        session.info.clear()  # not handed over: the tests run it themselves
    [job] = await jobs(sessions)
    return email, job


async def commit_another_email(
    sessions: async_sessionmaker[AsyncSession], address: str
) -> tuple[Email, OutboxJob]:
    """Like ``commit_email``, with other jobs already in the table."""
    async with sessions.begin() as session:
        email = queue_email(
            session,
            kind="test",
            to_address=address,
            context={"sent_at": "2026-12-01T10:00:00+00:00"},
        )
        session.info.clear()
    async with sessions() as session:
        job = await session.scalar(
            select(OutboxJob).where(
                OutboxJob.arguments["email_id"].astext == str(email.id)
            )
        )
    assert job is not None
    return email, job


async def drain_with(settings: Settings, postmark: FakePostmark) -> None:
    async with postmark.client() as http:
        await drain(settings, ctx={"settings": settings, "http": http})


class TestQueueing:
    async def test_rolled_back_work_sends_no_email(
        self,
        api: httpx.AsyncClient,
        mail_settings: Settings,
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await api.post("/api/v1/greetings/tenant@example.test/then-fail")
        await drain_with(mail_settings, postmark)

        assert response.status_code == 409
        assert await emails(committed_sessionmaker) == []
        assert await jobs(committed_sessionmaker) == []
        assert postmark.requests == []

    async def test_committed_work_sends_exactly_one_email(
        self,
        api: httpx.AsyncClient,
        mail_settings: Settings,
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await api.post("/api/v1/greetings/tenant@example.test")
        await drain_with(mail_settings, postmark)

        [email] = await emails(committed_sessionmaker)
        [sent] = postmark.accepted
        assert response.status_code == 202
        assert sent["To"] == "Dana Tenant <tenant@example.test>"
        assert sent["Subject"] == "Test email from Asset Anchor"
        assert sent["MessageStream"] == "outbound"
        assert postmark.requests[0].headers["X-Postmark-Server-Token"] == TOKEN
        assert email.sent_at is not None
        assert email.provider == "postmark"
        assert email.provider_message_id is not None

    async def test_a_commit_while_redis_is_down_sends_one_email_once_it_returns(
        self,
        mail_settings: Settings,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        dead_redis = SecretStr(f"redis://127.0.0.1:{free_port()}/0")
        app = create_app(mail_settings.model_copy(update={"redis_url": dead_redis}))
        app.include_router(router)
        async with lifespan(app), client_for(app) as client:
            started = time.perf_counter()
            response = await client.post("/api/v1/greetings/tenant@example.test")
            elapsed = time.perf_counter() - started
        pending_before = await emails(committed_sessionmaker)
        async with committed_sessionmaker.begin() as session:
            await session.execute(
                update(OutboxJob).values(run_after=utc_now() - timedelta(seconds=30))
            )

        swept = await sweep_outbox(worker_ctx)
        await drain_with(mail_settings, postmark)
        await sweep_outbox(worker_ctx)
        await drain_with(mail_settings, postmark)

        assert response.status_code == 202
        assert elapsed < mail_settings.outbox_handover_timeout_seconds + 0.5
        assert [email.sent_at for email in pending_before] == [None]
        assert swept == 1
        assert len(postmark.accepted) == 1
        [email] = await emails(committed_sessionmaker)
        assert email.sent_at is not None


class TestSendJob:
    async def test_the_same_job_delivered_twice_sends_one_email(
        self,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, job = await commit_email(committed_sessionmaker)

        await run_outbox_job(worker_ctx, str(job.id))
        await run_outbox_job(worker_ctx, str(job.id))

        assert len(postmark.requests) == 1

    @pytest.mark.parametrize(
        "failure",
        [
            FakePostmark.refuse(500, 0, "Internal server error"),
            FakePostmark.refuse(503, 100, "Maintenance"),
            FakePostmark.refuse(429, 429, "Rate limit exceeded"),
            httpx.ReadTimeout("timed out"),
            httpx.ConnectError("connection refused"),
        ],
        ids=["500", "503", "429", "timeout", "connect-error"],
    )
    async def test_a_passing_failure_is_retried_with_backoff_and_then_sent(
        self,
        failure: Reply,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, job = await commit_email(committed_sessionmaker)
        postmark.script = [failure]

        with pytest.raises(Retry) as retry:
            await run_outbox_job(worker_ctx, str(job.id))
        [waiting] = await jobs(committed_sessionmaker)
        [unsent] = await emails(committed_sessionmaker)
        await run_outbox_job(worker_ctx, str(job.id))

        assert retry.value.defer_score is not None
        assert 500 <= retry.value.defer_score <= 1000
        assert waiting.attempts == 1
        assert waiting.last_error is not None
        assert TOKEN not in waiting.last_error
        assert unsent.sent_at is None
        assert len(postmark.requests) == 2
        assert len(postmark.accepted) == 1
        [email] = await emails(committed_sessionmaker)
        assert email.sent_at is not None

    async def test_a_422_is_dead_with_the_reason_and_can_be_replayed(
        self,
        worker_ctx: dict[str, Any],
        mail_settings: Settings,
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, job = await commit_email(committed_sessionmaker)
        postmark.script = [
            FakePostmark.refuse(422, 300, "Invalid email request: empty subject.")
        ]

        await run_outbox_job(worker_ctx, str(job.id))
        [dead] = await jobs(committed_sessionmaker)
        async with committed_sessionmaker() as session:
            await service.retry_dead_job(session, job.id)
            await session.commit()
            await dispatch_pending(session, worker_ctx["redis"], mail_settings)
        await drain_with(mail_settings, postmark)

        assert dead.dead_at is not None
        assert dead.attempts == 1
        assert "ErrorCode 300" in (dead.last_error or "")
        assert "Invalid email request" in (dead.last_error or "")
        [replayed] = await jobs(committed_sessionmaker)
        assert replayed.completed_at is not None
        assert len(postmark.accepted) == 1

    async def test_an_inactive_recipient_is_suppressed_and_not_mailed_again(
        self,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        email, job = await commit_email(committed_sessionmaker, "Gone@Example.test")
        postmark.script = [
            FakePostmark.refuse(
                422,
                406,
                "You tried to send to recipient(s) that have been marked as inactive.",
            )
        ]

        await run_outbox_job(worker_ctx, str(job.id))
        _, later = await commit_another_email(
            committed_sessionmaker, "gone@example.test"
        )
        await run_outbox_job(worker_ctx, str(later.id))

        async with committed_sessionmaker() as session:
            first = await session.get(Email, email.id)
            done = await session.get(OutboxJob, job.id)
            suppression = await session.get(EmailSuppression, "gone@example.test")
        assert len(postmark.requests) == 1
        assert first is not None
        assert first.suppressed_at is not None
        assert first.sent_at is None
        assert done is not None
        assert done.completed_at is not None
        assert done.dead_at is None
        assert suppression is not None
        assert suppression.reason == "InactiveRecipient"
        assert "406" in (suppression.detail or "")

    async def test_a_suppressed_address_is_not_mailed_and_the_attempt_is_recorded(
        self,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        async with committed_sessionmaker.begin() as session:
            await suppress(session, "Bounced@Example.test", reason="HardBounce")
        _, job = await commit_email(committed_sessionmaker, "bounced@example.test")

        await run_outbox_job(worker_ctx, str(job.id))

        [email] = await emails(committed_sessionmaker)
        [done] = await jobs(committed_sessionmaker)
        assert postmark.requests == []
        assert email.suppressed_at is not None
        assert email.sent_at is None
        assert done.completed_at is not None

    async def test_a_vanished_email_fails_for_good(
        self,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        _, job = await commit_email(committed_sessionmaker)
        async with committed_sessionmaker.begin() as session:
            await session.execute(delete(Email))

        await run_outbox_job(worker_ctx, str(job.id))

        [dead] = await jobs(committed_sessionmaker)
        assert dead.dead_at is not None
        assert "no longer exists" in (dead.last_error or "")
        assert postmark.requests == []


class TestFileBackend:
    async def test_the_file_backend_writes_one_eml_per_email(
        self,
        database_url: str,
        redis_url: str,
        tmp_path: Path,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        settings = make_settings(
            database_url, redis_url, email_backend="file", email_file_dir=str(tmp_path)
        )
        email, job = await commit_email(committed_sessionmaker)
        ctx: dict[str, Any] = {"settings": settings}
        await startup(ctx)
        try:
            await run_outbox_job(ctx, str(job.id))
            await run_outbox_job(ctx, str(job.id))
        finally:
            await shutdown(ctx)

        files = list(tmp_path.glob("*.eml"))
        assert [path.name for path in files] == [f"{email.id}.eml"]
        assert "Subject: Test email from Asset Anchor" in files[0].read_text()


class TestOneTimeValues:
    RAW = "one-time-link-token-0123456789abcdefghijklmnop"

    async def commit_reset(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        address: str = "tenant@example.test",
    ) -> OutboxJob:
        async with sessions.begin() as session:
            queue_email(
                session,
                kind="password_reset",
                to_address=address,
                to_name="Dana Tenant",
                context={"expires_minutes": 60},
                secrets={"token": self.RAW},
                settings=settings,
            )
            session.info.clear()
        [job] = await jobs(sessions)
        return job

    async def test_a_queued_token_is_stored_only_encrypted(
        self,
        mail_settings: Settings,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        await self.commit_reset(committed_sessionmaker, mail_settings)

        async with committed_sessionmaker() as session:
            row = (
                await session.execute(
                    select(cast(Email.context, Text), Email.secret_context)
                )
            ).one()

        assert self.RAW not in row[0]
        assert row[1] is not None
        assert self.RAW not in row[1]

    async def test_the_sent_email_carries_the_link_and_the_row_forgets_it(
        self,
        mail_settings: Settings,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        job = await self.commit_reset(committed_sessionmaker, mail_settings)

        await run_outbox_job(worker_ctx, str(job.id))

        [sent] = postmark.accepted
        link = f"{mail_settings.frontend_url}/reset-password?token={self.RAW}"
        assert link in sent["TextBody"]
        [email] = await emails(committed_sessionmaker)
        assert email.sent_at is not None
        assert email.secret_context is None

    async def test_a_suppressed_email_forgets_its_token_too(
        self,
        mail_settings: Settings,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        async with committed_sessionmaker.begin() as session:
            await suppress(session, "bounced@example.test", reason="HardBounce")
        job = await self.commit_reset(
            committed_sessionmaker, mail_settings, "bounced@example.test"
        )

        await run_outbox_job(worker_ctx, str(job.id))

        [email] = await emails(committed_sessionmaker)
        assert postmark.requests == []
        assert email.suppressed_at is not None
        assert email.secret_context is None

    async def test_an_email_sealed_under_an_unknown_key_is_dead_with_the_reason(
        self,
        mail_settings: Settings,
        worker_ctx: dict[str, Any],
        postmark: FakePostmark,
        committed_sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        other_key = mail_settings.model_copy(
            update={"mfa_encryption_key": SecretStr("k" * 40)}
        )
        job = await self.commit_reset(committed_sessionmaker, other_key)

        await run_outbox_job(worker_ctx, str(job.id))

        [dead] = await jobs(committed_sessionmaker)
        assert dead.dead_at is not None
        assert "MFA_ENCRYPTION_KEY" in (dead.last_error or "")
        assert postmark.requests == []
