"""Queueing email and keeping the suppression list.

Email is always sent by the worker: ``queue_email`` writes the message and an
``email.send`` job in the caller's transaction, so an email exists only for
work that was saved.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.email.templates import known_kind, render_email
from asset_anchor.integrations.email import (
    DeliveryReceipt,
    OutgoingEmail,
    build_mailer,
)
from asset_anchor.jobs.outbox import enqueue
from asset_anchor.kit.email_address import (
    domain_of,
    is_plain_address,
    normalize_address,
)
from asset_anchor.kit.secretbox import SecretBox
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.models import Email, EmailSuppression
from asset_anchor.settings import Settings

log = get_logger(__name__)


# Outside production with no MFA_ENCRYPTION_KEY, a process may have a JWT
# secret of its own (``create-admin`` run beside ``dev``), so the key derived
# from it would differ from the worker's: every such process uses this one.
_DEVELOPMENT_KEY = "development-only-email-secrets-key-not-for-production"


def secret_box(settings: Settings) -> SecretBox:
    """What encrypts the one-time values of emails waiting to be sent."""
    if settings.mfa_encryption_key is None and not settings.is_production:
        return SecretBox(_DEVELOPMENT_KEY, purpose="email-secrets")
    current, previous = settings.mfa_keys()
    return SecretBox(current, previous, purpose="email-secrets")


def queue_email(
    session: AsyncSession,
    *,
    kind: str,
    to_address: str,
    to_name: str | None = None,
    context: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    settings: Settings | None = None,
) -> Email:
    """Write an email and the job that sends it, in the caller's transaction.

    ``secrets`` (a link's one-time token) are rendered like ``context`` but
    stored encrypted with ``settings``' key, and wiped once the email is sent:
    the database never holds a usable token in the clear.
    """
    if not known_kind(kind):
        raise ValueError(f"no email templates for kind {kind!r}")
    sealed = None
    if secrets:
        if settings is None:
            raise ValueError("an email with secrets needs the settings to seal them")
        sealed = secret_box(settings).encrypt(json.dumps(secrets))
    email = Email(
        id=uuid.uuid4(),
        kind=kind,
        to_address=to_address.strip(),
        to_name=to_name,
        context=context or {},
        secret_context=sealed,
    )
    session.add(email)
    enqueue(session, "email.send", email_id=str(email.id))
    return email


def opened_secrets(settings: Settings, email: Email) -> dict[str, str]:
    """The email's one-time values, decrypted; empty once wiped."""
    if email.secret_context is None:
        return {}
    opened: dict[str, str] = json.loads(
        secret_box(settings).decrypt(email.secret_context)
    )
    return opened


async def is_suppressed(session: AsyncSession, address: str) -> bool:
    found = await session.scalar(
        select(EmailSuppression.address).where(
            EmailSuppression.address == normalize_address(address)
        )
    )
    return found is not None


async def suppress(
    session: AsyncSession,
    address: str,
    *,
    reason: str,
    source_event_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Add an address to the suppression list; a repeat changes nothing."""
    await session.execute(
        insert(EmailSuppression)
        .values(
            address=normalize_address(address),
            reason=reason,
            source_event_id=source_event_id,
            detail=detail,
        )
        .on_conflict_do_nothing(index_elements=[EmailSuppression.address])
    )
    log.info("email.suppressed", reason=reason, domain=domain_of(address))


async def clear_suppression(session: AsyncSession, address: str) -> bool:
    """Mail this address again (its owner changed or re-confirmed it).

    Called when a user's email address changes; returns whether it was
    suppressed.
    """
    result = await session.execute(
        delete(EmailSuppression)
        .where(EmailSuppression.address == normalize_address(address))
        .returning(EmailSuppression.address)
    )
    cleared = result.first() is not None
    if cleared:
        log.info("email.suppression_cleared", domain=domain_of(address))
    return cleared


async def send_test_email(settings: Settings, to_address: str) -> DeliveryReceipt:
    """Send the ``test`` email now, directly through the configured back end.

    For operators checking delivery end to end (the runbook's "Verify Email
    Sending"); it bypasses the queue on purpose, so it works while the worker
    is down. Raises ``EmailDeliveryError`` with the provider's reason.
    """
    address = to_address.strip()
    if not is_plain_address(address):
        raise ValueError(f"not an email address: {to_address!r}")
    rendered = render_email(
        "test", settings=settings, recipient_name=None, context={"sent_at": utc_now()}
    )
    async with httpx.AsyncClient(timeout=settings.postmark_timeout_seconds) as client:
        mailer = build_mailer(settings, client)
        return await mailer.send(
            OutgoingEmail(
                message_key=f"test-{uuid.uuid4().hex}",
                to_address=address,
                to_name=None,
                subject=rendered.subject,
                text_body=rendered.text_body,
                html_body=rendered.html_body,
                tag="test",
            )
        )
