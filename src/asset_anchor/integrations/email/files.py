"""Writing emails to ``.eml`` files instead of sending them (development, tests).

Each email becomes ``<directory>/<message_key>.eml``, an RFC 5322 message any
mail client opens. A key that already has a file is not written again, so a
job that runs twice leaves one file and gets the same receipt.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

from asset_anchor.integrations.email.message import (
    DeliveryReceipt,
    EmailDeliveryError,
    OutgoingEmail,
)
from asset_anchor.kit.time import utc_now
from asset_anchor.logging import get_logger

log = get_logger(__name__)

PROVIDER = "file"

# No separators, no leading dot: the key cannot leave the directory, hide a
# file or collide with a temporary file (those start with a dot).
_SAFE_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class FileMailer:
    """A ``Mailer`` that writes each email to a file in ``directory``."""

    def __init__(self, directory: Path, *, sender: str) -> None:
        self._directory = directory
        self._sender = sender

    async def send(self, email: OutgoingEmail) -> DeliveryReceipt:
        if not _SAFE_KEY.fullmatch(email.message_key):
            raise EmailDeliveryError(
                "message_key is not a safe file name", transient=False
            )
        file_name = f"{email.message_key}.eml"
        path = self._directory / file_name

        try:
            written = await asyncio.to_thread(self._write_once, path, email)
        except OSError as exc:
            # A full disk or a permission fixed by an operator: worth retrying.
            raise EmailDeliveryError(
                f"could not write the email file ({type(exc).__name__})",
                transient=True,
            ) from exc

        if written:
            log.info("email.file_written", path=str(path), subject=email.subject)
        else:
            log.info("email.file_exists", path=str(path))
        return DeliveryReceipt(provider=PROVIDER, message_id=file_name)

    def _write_once(self, path: Path, email: OutgoingEmail) -> bool:
        """Write the file unless it exists; say whether it was written."""
        if path.exists():
            return False
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)

        data = self._build(email).as_bytes(policy=SMTP)
        handle, temporary = tempfile.mkstemp(
            dir=self._directory, prefix=".", suffix=".tmp"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return True

    def _build(self, email: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = (
            formataddr((email.to_name, email.to_address))
            if email.to_name
            else email.to_address
        )
        message["Subject"] = email.subject
        message["Date"] = format_datetime(utc_now())
        message["Message-ID"] = f"<{email.message_key}@{_sender_domain(self._sender)}>"
        message["X-Asset-Anchor-Tag"] = email.tag
        message.set_content(email.text_body)
        message.add_alternative(email.html_body, subtype="html")
        return message


def _sender_domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or "localhost"
