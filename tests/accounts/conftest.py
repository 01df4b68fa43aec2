"""Helpers for the accounts API tests: clients, sign-up, emails sent."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.tasks import send_password_reset_job
from asset_anchor.jobs.context import JobContext
from asset_anchor.models import Email, OutboxJob, User
from asset_anchor.settings import Settings
from tests.conftest import email_secrets

PASSWORD = "velvet-orbit-canyon-mosaic"
NEW_PASSWORD = "thimble-harbor-quartz-lantern"


def new_email() -> str:
    """A fresh address, so that lockouts keyed by email never meet across tests."""
    return f"jordan.{secrets.token_hex(4)}@example.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient,
    email: str,
    *,
    password: str = PASSWORD,
    full_name: str = "Jordan Riley",
    organization_name: str = "Riley Homes",
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": password,
            "full_name": full_name,
            "organization_name": organization_name,
        },
    )


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )


async def signed_in(
    client: httpx.AsyncClient, email: str | None = None
) -> dict[str, Any]:
    """Register and sign in; the token pair, plus ``email``."""
    address = email or new_email()
    assert (await register(client, address)).status_code == 202
    answer = await login(client, address)
    assert answer.status_code == 200, answer.text
    return {**answer.json(), "email": address}


async def emails_to(
    db: AsyncSession, address: str, kind: str | None = None
) -> list[Email]:
    statement = select(Email).where(Email.to_address == address)
    if kind is not None:
        statement = statement.where(Email.kind == kind)
    return list(await db.scalars(statement.order_by(Email.created_at)))


async def last_token(db: AsyncSession, address: str, kind: str) -> str:
    """The token in the newest email of ``kind`` queued for ``address``."""
    sent = await emails_to(db, address, kind)
    assert sent, f"no {kind} email to {address}"
    token = email_secrets(sent[-1])["token"]
    assert isinstance(token, str)
    return token


async def user_with(db: AsyncSession, address: str) -> User:
    user = await db.scalar(select(User).where(User.email_normalized == address.lower()))
    assert user is not None
    return user


async def run_reset_jobs(db: AsyncSession, settings: Settings) -> int:
    """Run the password-reset jobs the requests queued, as the worker would."""
    rows = list(
        await db.scalars(
            select(OutboxJob).where(
                OutboxJob.job_name == "accounts.send_password_reset",
                OutboxJob.completed_at.is_(None),
            )
        )
    )
    for row in rows:
        context = JobContext(
            session=db,
            settings=settings,
            http=httpx.AsyncClient(),
            outbox_id=row.id,
            job_name=row.job_name,
            attempt=1,
            request_id=row.request_id,
        )
        await send_password_reset_job(context, **row.arguments)
        row.completed_at = row.created_at
    await db.flush()
    return len(rows)


def some_uuid() -> str:
    return str(uuid.uuid4())
