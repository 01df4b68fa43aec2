"""Helpers for the portfolio tests: staff and tenant accounts, and factories.

Accounts are made straight in the database with a live session (no password
hashing, so a test can make many); everything else goes through the API, as
the front end would.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from asset_anchor.accounts.service import Client, start_session
from asset_anchor.email.tasks import send_email
from asset_anchor.jobs.context import JobContext
from asset_anchor.kit.time import utc_now
from asset_anchor.models import Organization, OrganizationMembership, OutboxJob, User
from asset_anchor.settings import Settings
from tests.conftest import HARNESS_MARK


@dataclass
class Account:
    user_id: uuid.UUID
    email: str
    full_name: str
    organization_id: uuid.UUID | None
    headers: dict[str, str]


async def make_user(
    db: AsyncSession,
    settings: Settings,
    *,
    full_name: str = "Jordan Riley",
    verified: bool = True,
) -> tuple[User, dict[str, str]]:
    """A user with a live session, and the headers that act as them."""
    user = User(
        id=uuid.uuid4(),
        email=f"user.{secrets.token_hex(5)}@example.test",
        full_name=full_name,
        password_hash=None,
        email_verified_at=utc_now() if verified else None,
    )
    user.email_normalized = user.email
    db.add(user)
    await db.flush()
    tokens = await start_session(
        db, settings, user, Client(None, None, None), mfa_verified=False
    )
    return user, {"Authorization": f"Bearer {tokens.access_token}"}


async def make_landlord(
    db: AsyncSession,
    settings: Settings,
    *,
    organization_id: uuid.UUID | None = None,
    role: str = "owner",
    currency: str = "USD",
    full_name: str = "Jordan Riley",
) -> Account:
    """An owner of a new organization, or a member of a given one."""
    user, headers = await make_user(db, settings, full_name=full_name)
    if organization_id is None:
        organization = Organization(
            id=uuid.uuid4(),
            name=f"Riley Homes {secrets.token_hex(2)}",
            default_currency=currency,
            contact_email="office@riley.example.test",
        )
        db.add(organization)
        await db.flush()
        organization_id = organization.id
    db.add(
        OrganizationMembership(
            id=uuid.uuid4(),
            organization_id=organization_id,
            user_id=user.id,
            role=role,
        )
    )
    await db.flush()
    return Account(user.id, user.email, user.full_name, organization_id, headers)


async def make_tenant(
    db: AsyncSession, settings: Settings, *, full_name: str = "Dana Tenant"
) -> Account:
    """A signed-in user who belongs to no organization."""
    user, headers = await make_user(db, settings, full_name=full_name)
    return Account(user.id, user.email, user.full_name, None, headers)


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


PROPERTY = {
    "name": "Maple Court",
    "kind": "apartment_building",
    "address": {
        "line1": "12 Maple Street",
        "city": "Portland",
        "region": "OR",
        "postal_code": "97201",
        "country": "US",
    },
    "timezone": "America/Los_Angeles",
}


async def create_property(
    api: httpx.AsyncClient, owner: Account, **overrides: Any
) -> dict[str, Any]:
    body = {**PROPERTY, **overrides}
    return ok(  # type: ignore[no-any-return]
        await api.post("/api/v1/properties", json=body, headers=owner.headers), 201
    )


async def create_unit(
    api: httpx.AsyncClient, owner: Account, property_id: str, **overrides: Any
) -> dict[str, Any]:
    body = {"label": f"Apt {secrets.token_hex(2)}", "bedrooms": 2, **overrides}
    return ok(  # type: ignore[no-any-return]
        await api.post(
            f"/api/v1/properties/{property_id}/units", json=body, headers=owner.headers
        ),
        201,
    )


async def deliver_mail(db: AsyncSession, settings: Settings) -> int:
    """Run the queued ``email.send`` jobs in ``db``'s transaction, as the worker
    would: with the settings' back end (files under ``EMAIL_FILE_DIR``)."""
    rows = list(
        await db.scalars(
            select(OutboxJob).where(
                OutboxJob.job_name == "email.send", OutboxJob.completed_at.is_(None)
            )
        )
    )
    async with httpx.AsyncClient() as http:
        for row in rows:
            context = JobContext(
                session=db,
                settings=settings,
                http=http,
                outbox_id=row.id,
                job_name=row.job_name,
                attempt=1,
                request_id=row.request_id,
            )
            await send_email(context, **row.arguments)
            row.completed_at = utc_now()
    await db.flush()
    return len(rows)


def mailbox(settings: Settings, address: str) -> list[EmailMessage]:
    """The messages the file back end wrote to ``address``, oldest first."""
    found = []
    for path in sorted(
        Path(settings.email_file_dir).glob("*.eml"), key=lambda p: p.stat().st_mtime
    ):
        message = BytesParser(policy=default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        if address.lower() in str(message["To"]).lower():
            found.append(message)
    return found


def link_token(message: EmailMessage, path: str) -> str:
    """The token of the ``path`` link in a message's text body."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)", text)
    assert match is not None, f"no {path} link in {text!r}"
    return match.group(1)


@pytest.fixture
def mail_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings with email written as files into a folder of the test."""
    return settings.model_copy(
        update={"email_backend": "file", "email_file_dir": str(tmp_path / "mail")}
    )


@contextmanager
def statements_run(db: AsyncSession) -> Iterator[list[str]]:
    """The SQL statements an endpoint sends on ``db``'s connection in the block.

    The requests of the ``app`` fixture use that connection too, so this sees
    what an endpoint runs (its principal lookup included).
    """
    seen: list[str] = []
    bind = db.bind
    assert isinstance(bind, AsyncConnection)
    connection = bind.sync_connection
    assert connection is not None

    def record(*args: Any) -> None:
        statement = str(args[2])
        # The savepoint that stands for the request's transaction, and the
        # harness's own work, are not the endpoint's.
        if HARNESS_MARK in statement or "SAVEPOINT" in statement:
            return
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)
