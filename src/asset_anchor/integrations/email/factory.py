"""Choosing the email back end the settings ask for."""

from __future__ import annotations

from email.utils import formataddr
from pathlib import Path

import httpx

from asset_anchor.integrations.email.files import FileMailer
from asset_anchor.integrations.email.message import Mailer
from asset_anchor.integrations.email.postmark import PostmarkMailer
from asset_anchor.settings import ConfigurationError, Settings


def build_mailer(settings: Settings, client: httpx.AsyncClient) -> Mailer:
    """Postmark or ``.eml`` files, per ``settings.resolved_email_backend``."""
    sender = formataddr((settings.email_from_name, settings.email_from))
    if settings.resolved_email_backend == "file":
        return FileMailer(Path(settings.email_file_dir), sender=sender)

    if settings.postmark_api_token is None:
        raise ConfigurationError(["POSTMARK_API_TOKEN is not set"])
    return PostmarkMailer(
        client,
        token=settings.postmark_api_token.get_secret_value(),
        base_url=settings.postmark_api_url,
        sender=sender,
        message_stream=settings.postmark_message_stream,
        timeout=settings.postmark_timeout_seconds,
    )
