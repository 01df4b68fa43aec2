"""``asset-anchor jobs list|retry`` and ``asset-anchor send-test-email``."""

from __future__ import annotations

import email
import secrets
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from asset_anchor.kit.time import utc_now
from asset_anchor.models import OutboxJob
from asset_anchor.settings import Settings
from tests.conftest import REDIS_PREFIX
from tests.support.proxy import free_port
from tests.test_cli import run_command


class CommittedJobs:
    """Outbox rows committed for real, and removed again by the fixture."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self.ids: list[uuid.UUID] = []

    async def add(
        self, *, attempts: int = 0, dead: bool = False, error: str | None = None
    ) -> uuid.UUID:
        now = utc_now()
        row = OutboxJob(
            id=uuid.uuid4(),
            job_name="email.send",
            arguments={"email_id": str(uuid.uuid4())},
            run_after=now,
            attempts=attempts,
            max_tries=10,
            last_attempt_at=now if attempts else None,
            last_error=error,
            dead_at=now if dead else None,
        )
        async with self._sessions.begin() as session:
            session.add(row)
        self.ids.append(row.id)
        return row.id

    async def get(self, outbox_id: uuid.UUID) -> OutboxJob:
        async with self._sessions() as session:
            row = await session.get(OutboxJob, outbox_id)
        assert row is not None
        return row

    async def remove_all(self) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(OutboxJob).where(OutboxJob.id.in_(self.ids)))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the real environment may reach the commands under test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch, database_url: str, redis_url: str) -> str:
    """The commands' environment, with Redis keys no other test shares."""
    prefix = f"{REDIS_PREFIX}cli-jobs-{secrets.token_hex(4)}:"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    return prefix


@pytest.fixture
async def queue_redis(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    """A client on the commands' Redis; removes the queue and arq's job keys."""
    client = Redis.from_url(redis_url)
    yield client
    # arq keeps a job under ``arq:job:<job id>``, outside our prefix.
    keys = [key async for key in client.scan_iter(match=f"*{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def jobs(
    committed_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[CommittedJobs]:
    made = CommittedJobs(committed_sessionmaker)
    yield made
    await made.remove_all()


async def queued_score(redis: Redis, prefix: str, outbox_id: uuid.UUID) -> float | None:
    score: float | None = await redis.zscore(
        f"{prefix}queue", f"{prefix}outbox:{outbox_id}"
    )
    return score


def job_line(output: str, outbox_id: uuid.UUID) -> str:
    [line] = [line for line in output.splitlines() if str(outbox_id) in line]
    return line


def read_message(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.usefixtures("prefix")
class TestJobsList:
    async def test_dead_jobs_are_listed_by_default(
        self, jobs: CommittedJobs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        dead = await jobs.add(
            attempts=10, dead=True, error="PermanentJobError: inactive recipient"
        )
        pending = await jobs.add(attempts=1)

        code = run_command(["jobs", "list"])

        out = capsys.readouterr().out
        line = job_line(out, dead)
        assert code == 0
        assert "email.send" in line
        assert " dead " in line
        assert "tries=10" in line
        assert "error=PermanentJobError: inactive recipient" in line
        assert str(pending) not in out

    async def test_pending_jobs_are_listed_when_asked_for(
        self, jobs: CommittedJobs, capsys: pytest.CaptureFixture[str]
    ) -> None:
        dead = await jobs.add(attempts=3, dead=True, error="RuntimeError: a bug")
        pending = await jobs.add(attempts=2)

        code = run_command(["jobs", "list", "--state", "pending"])

        out = capsys.readouterr().out
        line = job_line(out, pending)
        assert code == 0
        assert "email.send" in line
        assert " pending " in line
        assert "tries=2" in line
        assert "error=" not in line
        assert str(dead) not in out

    def test_no_jobs_says_so(self, capsys: pytest.CaptureFixture[str]) -> None:
        code = run_command(["jobs", "list"])

        assert code == 0
        assert capsys.readouterr().out == "no jobs\n"


class TestJobsRetry:
    async def test_a_dead_job_is_revived_and_queued(
        self,
        jobs: CommittedJobs,
        prefix: str,
        queue_redis: Redis,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        dead = await jobs.add(attempts=10, dead=True, error="TransientJobError: 503")

        code = run_command(["jobs", "retry", str(dead)])

        row = await jobs.get(dead)
        assert code == 0
        assert "1 job(s) set to run again; 1 handed to the queue now." in (
            capsys.readouterr().out
        )
        assert row.dead_at is None
        assert row.attempts == 0
        assert await queued_score(queue_redis, prefix, dead) is not None

    async def test_all_dead_revives_every_dead_job_and_no_other(
        self, jobs: CommittedJobs, prefix: str, queue_redis: Redis
    ) -> None:
        first = await jobs.add(attempts=10, dead=True, error="TransientJobError: 503")
        second = await jobs.add(attempts=1, dead=True, error="RuntimeError: a bug")
        pending = await jobs.add(attempts=2)

        code = run_command(["jobs", "retry", "--all-dead"])

        rows = [await jobs.get(outbox_id) for outbox_id in (first, second)]
        untouched = await jobs.get(pending)
        assert code == 0
        assert [(row.dead_at, row.attempts) for row in rows] == [(None, 0), (None, 0)]
        assert await queued_score(queue_redis, prefix, first) is not None
        assert await queued_score(queue_redis, prefix, second) is not None
        assert untouched.attempts == 2
        assert await queued_score(queue_redis, prefix, pending) is None

    async def test_a_pending_job_is_refused_as_not_dead(
        self,
        jobs: CommittedJobs,
        prefix: str,
        queue_redis: Redis,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        pending = await jobs.add(attempts=2)

        code = run_command(["jobs", "retry", str(pending)])

        row = await jobs.get(pending)
        assert code == 2
        assert f"Job {pending} is not dead." in capsys.readouterr().err
        assert row.attempts == 2
        assert await queued_score(queue_redis, prefix, pending) is None

    async def test_one_refused_id_revives_none_of_the_others(
        self, jobs: CommittedJobs, prefix: str, queue_redis: Redis
    ) -> None:
        dead = await jobs.add(attempts=10, dead=True, error="RuntimeError: a bug")
        pending = await jobs.add(attempts=2)

        code = run_command(["jobs", "retry", str(dead), str(pending)])

        row = await jobs.get(dead)
        assert code == 2
        assert row.dead_at is not None
        assert row.attempts == 10
        assert await queued_score(queue_redis, prefix, dead) is None

    @pytest.mark.usefixtures("prefix")
    async def test_an_unknown_id_exits_2(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = uuid.uuid4()

        code = run_command(["jobs", "retry", str(missing)])

        assert code == 2
        assert f"There is no job {missing}." in capsys.readouterr().err

    @pytest.mark.usefixtures("prefix")
    def test_an_id_that_is_not_a_uuid_exits_2(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = run_command(["jobs", "retry", "not-a-uuid"])

        assert code == 2
        assert "job ids are UUIDs" in capsys.readouterr().err


class TestSendTestEmail:
    def test_the_file_back_end_writes_the_email(
        self,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("EMAIL_BACKEND", "file")
        monkeypatch.setenv("EMAIL_FILE_DIR", str(tmp_path))

        code = run_command(["send-test-email", "--to", "ops@example.test"])

        [path] = list(tmp_path.glob("*.eml"))
        message = read_message(path)
        assert code == 0
        assert str(path) in capsys.readouterr().out
        assert message["Subject"] == "Test email from Asset Anchor"
        assert message["To"] == "ops@example.test"

    def test_an_address_that_is_not_one_exits_2(
        self,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("EMAIL_BACKEND", "file")
        monkeypatch.setenv("EMAIL_FILE_DIR", str(tmp_path))

        code = run_command(["send-test-email", "--to", "not an address"])

        assert code == 2
        assert "not an email address" in capsys.readouterr().err
        assert list(tmp_path.iterdir()) == []

    def test_an_unreachable_postmark_is_a_temporary_failure(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("EMAIL_BACKEND", "postmark")
        monkeypatch.setenv("POSTMARK_API_TOKEN", "server-token-for-tests")
        monkeypatch.setenv("POSTMARK_API_URL", f"http://127.0.0.1:{free_port()}")

        code = run_command(["send-test-email", "--to", "ops@example.test"])

        err = capsys.readouterr().err
        assert code == 1
        assert "the test email was NOT sent through postmark" in err
        assert "temporary failure" in err
