"""The worker's email job: render, check suppression, send once.

An address the provider reports inactive (Postmark's ErrorCode 406) goes on
the suppression list, and the email is recorded as suppressed, not dead.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from asset_anchor.email.service import is_suppressed, opened_secrets, suppress
from asset_anchor.email.templates import render_email
from asset_anchor.integrations.email import (
    EmailDeliveryError,
    OutgoingEmail,
    build_mailer,
)
from asset_anchor.jobs.context import JobContext
from asset_anchor.jobs.errors import PermanentJobError
from asset_anchor.jobs.registry import job
from asset_anchor.kit.secretbox import SecretBoxError
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger
from asset_anchor.models import Email

log = get_logger(__name__)


@job("email.send", max_tries=14)
async def send_email(ctx: JobContext, email_id: str) -> None:
    """Send one queued email.

    Idempotent: an email already sent or suppressed is left alone. The one
    window for a second copy is a crash between the provider's acceptance and
    this job's commit (Postmark has no idempotency key); the provider's answer
    is recorded in the same transaction that completes the job, so the window
    is the length of one commit.
    """
    email = await ctx.session.scalar(
        select(Email).where(Email.id == uuid.UUID(email_id)).with_for_update()
    )
    if email is None:
        raise PermanentJobError(f"email {email_id} no longer exists")
    if email.sent_at is not None or email.suppressed_at is not None:
        log.info("email.already_handled", email_id=email_id)
        return

    if await is_suppressed(ctx.session, email.to_address):
        email.suppressed_at = utc_now()
        email.secret_context = None
        log.info("email.not_sent_suppressed", email_id=email_id, kind=email.kind)
        return

    try:
        secrets = opened_secrets(ctx.settings, email)
    except SecretBoxError as error:
        raise PermanentJobError(
            "no configured MFA_ENCRYPTION_KEY opens this email's secrets"
        ) from error
    rendered = render_email(
        email.kind,
        settings=ctx.settings,
        recipient_name=email.to_name,
        context={**email.context, **secrets},
    )
    mailer = build_mailer(ctx.settings, ctx.http)
    outgoing = OutgoingEmail(
        message_key=str(email.id),
        to_address=email.to_address,
        to_name=email.to_name,
        subject=rendered.subject,
        text_body=rendered.text_body,
        html_body=rendered.html_body,
        tag=email.kind,
    )
    try:
        receipt = await mailer.send(outgoing)
    except EmailDeliveryError as error:
        if not error.recipient_inactive:
            raise error.to_job_error() from error
        # The provider will never deliver here: stop mailing the address, as
        # a hard bounce would, instead of leaving a dead job to replay.
        await suppress(
            ctx.session, email.to_address, reason="InactiveRecipient", detail=str(error)
        )
        email.suppressed_at = utc_now()
        email.secret_context = None
        log.info("email.not_sent_inactive", email_id=email_id, kind=email.kind)
        return

    email.subject = rendered.subject
    email.provider = receipt.provider
    email.provider_message_id = receipt.message_id
    email.sent_at = utc_now()
    email.secret_context = None
    log.info(
        "email.sent",
        email_id=email_id,
        kind=email.kind,
        provider=receipt.provider,
        message_id=receipt.message_id,
    )
