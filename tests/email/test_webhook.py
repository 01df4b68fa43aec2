"""Postmark's delivery webhook and the suppression list it keeps."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.email.service import (
    clear_suppression,
    is_suppressed,
    queue_email,
    suppress,
)
from asset_anchor.models import Email, EmailSuppression, OutboxJob
from asset_anchor.settings import Settings
from tests.conftest import app_on, client_for, make_settings

WEBHOOK_URL = "/api/v1/webhooks/postmark"
USERNAME = "postmark"
PASSWORD = "hook-password-7f3a9c"
ADDRESS = "tenant@example.com"
MESSAGE_ID = "883953f4-6105-42a2-a16a-77a8eac79483"


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


GOOD_AUTH = basic_auth(USERNAME, PASSWORD)


def bounce(
    *,
    event_id: int = 4323372036854775807,
    bounce_type: str = "HardBounce",
    type_code: int = 1,
    email: str = "Tenant@Example.COM",
) -> dict[str, Any]:
    """A bounce as Postmark posts it (fields we do not read included)."""
    return {
        "RecordType": "Bounce",
        "ID": event_id,
        "Type": bounce_type,
        "TypeCode": type_code,
        "Name": "Hard bounce",
        "Tag": "verify-email",
        "MessageID": MESSAGE_ID,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message"
        " (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account does not exist.",
        "Email": email,
        "From": "support@assetanchor.io",
        "BouncedAt": "2025-03-01T07:30:54.9070259Z",
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Confirm your email address",
        "Metadata": {"message_key": "5d8b1f6e"},
    }


def spam_complaint(*, event_id: int = 42, email: str = ADDRESS) -> dict[str, Any]:
    return {
        "RecordType": "SpamComplaint",
        "ID": event_id,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "MessageID": MESSAGE_ID,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The subscriber explicitly marked this message as spam.",
        "Email": email,
        "From": "support@assetanchor.io",
        "BouncedAt": "2025-03-01T07:31:10Z",
        "Inactive": True,
        "CanActivate": False,
    }


def subscription_change(
    *, suppress_sending: bool, reason: str | None = "ManualSuppression"
) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": MESSAGE_ID,
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2025-03-02T09:00:00Z",
        "Recipient": ADDRESS,
        "Origin": "Customer",
        "SuppressSending": suppress_sending,
        "SuppressionReason": reason,
        "Tag": "verify-email",
        "Metadata": {},
    }


def delivery() -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": MESSAGE_ID,
        "Recipient": ADDRESS,
        "Tag": "verify-email",
        "DeliveredAt": "2025-03-01T07:30:12Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


@pytest.fixture
async def app(
    database_url: str, redis_url: str, db: AsyncSession
) -> AsyncIterator[FastAPI]:
    """The API with Postmark's webhook credentials configured."""
    settings = make_settings(
        database_url,
        redis_url,
        postmark_webhook_username=USERNAME,
        postmark_webhook_password=PASSWORD,
    )
    async with app_on(settings, db) as app:
        yield app


@pytest.fixture
async def unconfigured_client(
    settings: Settings, db: AsyncSession
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with no webhook credentials set at all."""
    async with app_on(settings, db) as app, client_for(app) as client:
        yield client


async def suppression(db: AsyncSession, address: str) -> EmailSuppression | None:
    return await db.scalar(
        select(EmailSuppression).where(EmailSuppression.address == address)
    )


class TestWebhookCredentials:
    async def test_no_credentials_are_refused_with_a_challenge(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        response = await client.post(WEBHOOK_URL, json=bounce())

        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "webhook_unauthorized"
        assert response.headers["www-authenticate"] == 'Basic realm="webhooks"'
        assert not await is_suppressed(db, ADDRESS)

    async def test_a_wrong_password_is_refused(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        headers = basic_auth(USERNAME, "not-the-password")

        response = await client.post(WEBHOOK_URL, json=bounce(), headers=headers)

        assert response.status_code == 401
        assert response.json()["code"] == "webhook_unauthorized"
        assert not await is_suppressed(db, ADDRESS)

    async def test_a_wrong_username_is_refused(self, client: httpx.AsyncClient) -> None:
        headers = basic_auth("someone-else", PASSWORD)

        response = await client.post(WEBHOOK_URL, json=bounce(), headers=headers)

        assert response.status_code == 401
        assert response.json()["code"] == "webhook_unauthorized"

    @pytest.mark.parametrize(
        "authorization",
        ["Basic bm8tY29sb24", "Basic !!!not-base64!!!", "Bearer abc", "Basic "],
        ids=["no-colon", "bad-base64", "other-scheme", "empty"],
    )
    async def test_a_malformed_header_gets_the_same_refusal(
        self, client: httpx.AsyncClient, authorization: str
    ) -> None:
        headers = {"Authorization": authorization}

        response = await client.post(WEBHOOK_URL, json=bounce(), headers=headers)

        assert response.status_code == 401
        assert response.json()["code"] == "webhook_unauthorized"
        assert response.headers["www-authenticate"] == 'Basic realm="webhooks"'

    async def test_unconfigured_credentials_refuse_every_caller(
        self, unconfigured_client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        response = await unconfigured_client.post(
            WEBHOOK_URL, json=bounce(), headers=GOOD_AUTH
        )

        assert response.status_code == 401
        assert response.json()["code"] == "webhook_unauthorized"
        assert not await is_suppressed(db, ADDRESS)


class TestPostmarkWebhook:
    async def test_a_hard_bounce_suppresses_the_lower_cased_address(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        response = await client.post(
            WEBHOOK_URL, json=bounce(event_id=4323372036854775807), headers=GOOD_AUTH
        )

        row = await suppression(db, ADDRESS)
        assert response.status_code == 200
        assert response.json() == {"status": "accepted"}
        assert await is_suppressed(db, "tenant@example.com")
        assert row is not None
        assert row.reason == "HardBounce"
        assert row.source_event_id == "4323372036854775807"
        assert row.detail is not None
        assert "mailbox not found" in row.detail

    async def test_a_soft_bounce_is_ignored(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        payload = bounce(bounce_type="SoftBounce", type_code=4096)

        response = await client.post(WEBHOOK_URL, json=payload, headers=GOOD_AUTH)

        assert response.status_code == 200
        assert response.json() == {"status": "ignored"}
        assert not await is_suppressed(db, ADDRESS)

    async def test_a_spam_complaint_suppresses_the_address(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        response = await client.post(
            WEBHOOK_URL, json=spam_complaint(event_id=42), headers=GOOD_AUTH
        )

        row = await suppression(db, ADDRESS)
        assert response.status_code == 200
        assert response.json() == {"status": "accepted"}
        assert row is not None
        assert row.reason == "SpamComplaint"
        assert row.source_event_id == "42"

    async def test_the_same_bounce_twice_leaves_one_row(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        first = await client.post(WEBHOOK_URL, json=bounce(), headers=GOOD_AUTH)

        second = await client.post(WEBHOOK_URL, json=bounce(), headers=GOOD_AUTH)

        count = await db.scalar(
            select(func.count())
            .select_from(EmailSuppression)
            .where(EmailSuppression.address == ADDRESS)
        )
        assert first.status_code == 200
        assert second.status_code == 200
        assert second.json() == {"status": "accepted"}
        assert count == 1

    async def test_a_suppression_made_in_postmark_is_recorded(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        payload = subscription_change(suppress_sending=True, reason="ManualSuppression")

        response = await client.post(WEBHOOK_URL, json=payload, headers=GOOD_AUTH)

        row = await suppression(db, ADDRESS)
        assert response.status_code == 200
        assert response.json() == {"status": "accepted"}
        assert row is not None
        assert row.reason == "ManualSuppression"

    async def test_a_reactivation_in_postmark_lifts_the_suppression(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        await client.post(
            WEBHOOK_URL,
            json=subscription_change(suppress_sending=True),
            headers=GOOD_AUTH,
        )
        suppressed_before = await is_suppressed(db, ADDRESS)
        payload = subscription_change(suppress_sending=False, reason=None)

        response = await client.post(WEBHOOK_URL, json=payload, headers=GOOD_AUTH)

        assert suppressed_before
        assert response.status_code == 200
        assert response.json() == {"status": "accepted"}
        assert not await is_suppressed(db, ADDRESS)

    async def test_a_delivery_is_ignored(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        response = await client.post(WEBHOOK_URL, json=delivery(), headers=GOOD_AUTH)

        assert response.status_code == 200
        assert response.json() == {"status": "ignored"}
        assert not await is_suppressed(db, ADDRESS)

    async def test_a_payload_without_a_record_type_is_a_validation_problem(
        self, client: httpx.AsyncClient, db: AsyncSession
    ) -> None:
        payload = bounce()
        del payload["RecordType"]

        response = await client.post(WEBHOOK_URL, json=payload, headers=GOOD_AUTH)

        body = response.json()
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert body["code"] == "validation_error"
        assert [error["loc"] for error in body["errors"]] == [["body", "RecordType"]]
        assert not await is_suppressed(db, ADDRESS)


class TestSuppressionService:
    async def test_clearing_a_suppressed_address_says_so_once(
        self, db: AsyncSession
    ) -> None:
        await suppress(db, "Tenant@Example.COM", reason="HardBounce")

        first = await clear_suppression(db, " tenant@example.com ")
        second = await clear_suppression(db, ADDRESS)

        assert first is True
        assert second is False
        assert not await is_suppressed(db, ADDRESS)

    async def test_clearing_an_address_never_suppressed_returns_false(
        self, db: AsyncSession
    ) -> None:
        cleared = await clear_suppression(db, "nobody@example.com")

        assert cleared is False


class TestQueueEmail:
    async def test_an_unknown_kind_is_refused(self, db: AsyncSession) -> None:
        with pytest.raises(ValueError, match="no-such-kind"):
            queue_email(db, kind="no-such-kind", to_address=ADDRESS)

        assert list(db.new) == []

    async def test_it_writes_the_email_and_its_send_job(self, db: AsyncSession) -> None:
        email = queue_email(
            db,
            kind="test",
            to_address=" tenant@example.com ",
            to_name="Jordan Lee",
            context={"sent_at": "2025-03-01T07:30:00+00:00"},
        )
        await db.flush()

        stored = await db.scalar(select(Email).where(Email.id == email.id))
        jobs = list(
            await db.scalars(
                select(OutboxJob).where(
                    OutboxJob.arguments.contains({"email_id": str(email.id)})
                )
            )
        )
        assert stored is not None
        assert stored.kind == "test"
        assert stored.to_address == "tenant@example.com"
        assert stored.to_name == "Jordan Lee"
        assert stored.sent_at is None
        assert [job.job_name for job in jobs] == ["email.send"]
        assert jobs[0].arguments == {"email_id": str(email.id)}
        assert jobs[0].completed_at is None
        assert jobs[0].dead_at is None
