"""The values an email back end takes and returns, and how it fails.

    EmailDeliveryError   the back end did not accept the email
        .transient       True: the same email may be accepted later (retry)
                         False: it never will as sent (the job ends as dead)
        .recipient_inactive
                         the provider will not deliver to this address at
                         all (it bounced, complained or was suppressed there)

A back end raises nothing else on purpose; ``to_job_error`` turns the error
into the job error that tells the worker whether to try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from asset_anchor.jobs.errors import JobError, PermanentJobError, TransientJobError


@dataclass(frozen=True)
class OutgoingEmail:
    """One rendered email to one recipient."""

    message_key: str
    """Our own id of the message (the emails row id): the file back end's file
    name and Postmark's ``Metadata``, so a delivery can be traced back."""
    to_address: str
    to_name: str | None
    subject: str
    text_body: str
    html_body: str
    tag: str
    """The kind of email (``test``, ``verify-email``), for filtering in Postmark."""


@dataclass(frozen=True)
class DeliveryReceipt:
    """Proof that a back end accepted an email."""

    provider: str
    """``postmark`` or ``file``."""
    message_id: str
    """Postmark's MessageID, or the file name for the file back end."""


class EmailDeliveryError(Exception):
    """A back end did not accept an email.

    The message is safe to log and to store: it never holds the API token, and
    addresses a provider echoes back are reduced to their domain.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        provider_code: int | None = None,
        status: int | None = None,
        retry_after_seconds: float | None = None,
        recipient_inactive: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.provider_code = provider_code
        self.status = status
        self.retry_after_seconds = retry_after_seconds
        self.recipient_inactive = recipient_inactive

    def to_job_error(self) -> JobError:
        """The job error that makes the worker retry, or give up, as it should."""
        if self.transient:
            return TransientJobError(
                self.message, retry_after_seconds=self.retry_after_seconds
            )
        return PermanentJobError(self.message)


class Mailer(Protocol):
    """An email back end: Postmark in production, ``.eml`` files elsewhere."""

    async def send(self, email: OutgoingEmail) -> DeliveryReceipt:
        """Hand one email over; raise ``EmailDeliveryError`` if it is refused."""
        ...
