"""Postmark's delivery webhooks: bounces and complaints feed the suppression list."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPBasic

from asset_anchor.db import SessionDep
from asset_anchor.email.schemas import PostmarkEvent, WebhookOut
from asset_anchor.email.service import clear_suppression, suppress
from asset_anchor.errors import AppError, error_responses
from asset_anchor.logging import get_logger
from asset_anchor.settings import Settings

log = get_logger(__name__)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

# Bounce types that say the address itself is bad, as opposed to a full
# mailbox or a passing block: these stop all further mail to it.
_PERMANENT_BOUNCES = frozenset(
    {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamComplaint"}
)


class _DeclaredBasic(HTTPBasic):
    """Basic auth as the OpenAPI document shows it; checks nothing itself.

    FastAPI's own parser answers a malformed header with a 401 of its own
    rather than ours, so ``postmark_caller`` reads the header by hand.
    """

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


_basic = _DeclaredBasic(
    scheme_name="PostmarkWebhookBasic",
    description="The credentials set on Postmark's webhook",
)


class WebhookUnauthorized(AppError):
    status = 401
    code = "webhook_unauthorized"
    title = "The webhook's credentials are missing or wrong"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Basic realm="webhooks"'})


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """The user name and password of a Basic header, or None if malformed."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


async def postmark_caller(
    request: Request,
    _declared: Annotated[None, Depends(_basic)],
) -> None:
    """Basic credentials that match POSTMARK_WEBHOOK_USERNAME / _PASSWORD."""
    settings: Settings = request.app.state.settings
    username = settings.postmark_webhook_username
    password = settings.postmark_webhook_password
    if username is None or password is None:
        log.warning("email.webhook_not_configured")
        raise WebhookUnauthorized
    credentials = _basic_credentials(request.headers.get("authorization"))
    if credentials is None:
        raise WebhookUnauthorized
    given_user, given_password = credentials
    # Both compared, always: no early exit that times the username.
    user_ok = _same(given_user, username)
    password_ok = _same(given_password, password.get_secret_value())
    if not (user_ok and password_ok):
        log.warning("email.webhook_refused")
        raise WebhookUnauthorized


@router.post(
    "/postmark",
    name="postmark",
    summary="Receive a Postmark delivery event",
    response_model=WebhookOut,
    dependencies=[Depends(postmark_caller)],
    responses=error_responses(WebhookUnauthorized),
)
async def postmark_webhook(event: PostmarkEvent, session: SessionDep) -> WebhookOut:
    """Put hard-bounced and complaining addresses on the suppression list.

    Postmark calls this with the Basic credentials configured on its webhook.
    Hard bounces, spam complaints and suppressions made in Postmark stop all
    further email to the address; a reactivation in Postmark lifts it. Other
    events (soft bounces, deliveries, opens) are acknowledged and ignored.
    """
    source = str(event.event_id) if event.event_id is not None else None
    if event.record_type in ("Bounce", "SpamComplaint"):
        if event.email and event.type in _PERMANENT_BOUNCES:
            await suppress(
                session,
                event.email,
                reason=event.type,
                source_event_id=source,
                detail=event.description,
            )
            return WebhookOut(status="accepted")
    elif (
        event.record_type == "SubscriptionChange"
        and event.recipient
        and event.suppress_sending is not None
    ):
        if event.suppress_sending:
            await suppress(
                session,
                event.recipient,
                reason=event.suppression_reason or "ManualSuppression",
                source_event_id=source,
            )
        else:
            await clear_suppression(session, event.recipient)
        return WebhookOut(status="accepted")
    log.info("email.webhook_ignored", record_type=event.record_type, type=event.type)
    return WebhookOut(status="ignored")
