"""Sending one email through Postmark's HTTP API (``POST /email``).

How an answer is classified (``EmailDeliveryError.transient``):

- 200 with ``ErrorCode`` 0: accepted; the receipt holds Postmark's MessageID.
- no answer (timeout, connection or TLS failure), any 5xx, 408 and 429:
  transient.
- 401: permanent. The server token is wrong; an operator must fix
  ``POSTMARK_API_TOKEN`` and then replay the dead job.
- 422 (and a 200 carrying a non-zero ``ErrorCode``): decided by
  ``POSTMARK_ERROR_CODES``; a code missing from it is permanent. ErrorCode
  406 (inactive recipient) also sets ``recipient_inactive``: Postmark will
  not deliver to the address at all, so the caller suppresses it.
- any other status: permanent.

Postmark has no idempotency key: a timeout after Postmark accepted the email
is retried, and the recipient can get it twice. The window is one request.

Error codes are Postmark's "API error codes" list:
https://postmarkapp.com/developer/api/overview#error-codes
"""

from __future__ import annotations

import re
from email.utils import formataddr
from typing import Any, NamedTuple

import httpx

from asset_anchor.integrations.email.message import (
    DeliveryReceipt,
    EmailDeliveryError,
    OutgoingEmail,
)
from asset_anchor.kit.email_address import domain_of
from asset_anchor.logging import get_logger

log = get_logger(__name__)

PROVIDER = "postmark"


class CodeRule(NamedTuple):
    transient: bool
    reason: str


# Transient means the condition lies with the account or with Postmark, not
# with this email: a retry after backoff succeeds once it clears, and if it
# does not clear within the job's tries the job ends as dead and can be
# replayed. Permanent means this email, as built, will never be accepted.
POSTMARK_ERROR_CODES: dict[int, CodeRule] = {
    10: CodeRule(False, "bad or missing server token; an operator must fix it"),
    100: CodeRule(True, "Postmark is down for maintenance"),
    300: CodeRule(False, "invalid email request: bad address, empty body"),
    400: CodeRule(False, "From is not a sender signature; needs configuration"),
    401: CodeRule(False, "sender signature not confirmed; needs an operator"),
    402: CodeRule(False, "Postmark could not parse our JSON: a bug of ours"),
    403: CodeRule(False, "our JSON does not fit the API: a bug of ours"),
    405: CodeRule(True, "account not allowed to send (e.g. out of credits)"),
    406: CodeRule(False, "recipient inactive (bounced, complained, suppressed)"),
    409: CodeRule(False, "JSON required: a bug of ours"),
    411: CodeRule(False, "forbidden attachment type"),
    412: CodeRule(True, "account pending approval; sending starts once approved"),
    413: CodeRule(True, "account may not send; clears when Postmark lifts it"),
    429: CodeRule(True, "rate limit exceeded; slow down and retry"),
}

INACTIVE_RECIPIENT = 406
_TRANSIENT_STATUSES = frozenset({408, 429})
_DETAIL_LIMIT = 300
# The local part of an address a provider echoes back (``'jo@x.test'``).
_LOCAL_PART = re.compile(r"[^\s@'\"<>(),;:\[\]]+@(?=[A-Za-z0-9])")


class PostmarkMailer:
    """A ``Mailer`` that hands emails to Postmark."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        token: str,
        base_url: str,
        sender: str,
        message_stream: str,
        timeout: float,
    ) -> None:
        self._client = client
        self._token = token
        self._url = f"{base_url.rstrip('/')}/email"
        self._sender = sender
        self._message_stream = message_stream
        self._timeout = timeout

    async def send(self, email: OutgoingEmail) -> DeliveryReceipt:
        try:
            response = await self._client.post(
                self._url,
                headers=self._headers(),
                json=self._payload(email),
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
            error = EmailDeliveryError(
                f"Postmark request {kind} ({type(exc).__name__})", transient=True
            )
            self._log_failure(email, error)
            raise error from exc

        body = _json_object(response)
        error_code = _error_code(body)
        message_id = body.get("MessageID")
        accepted = response.status_code == 200 and error_code == 0
        if accepted and isinstance(message_id, str) and message_id:
            return self._accepted(email, message_id)

        error = self._classify(response, body, error_code)
        self._log_failure(email, error)
        raise error

    def _headers(self) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "X-Postmark-Server-Token": self._token,
        }

    def _payload(self, email: OutgoingEmail) -> dict[str, Any]:
        to = (
            formataddr((email.to_name, email.to_address))
            if email.to_name
            else email.to_address
        )
        return {
            "From": self._sender,
            "To": to,
            "Subject": email.subject,
            "TextBody": email.text_body,
            "HtmlBody": email.html_body,
            "Tag": email.tag,
            "MessageStream": self._message_stream,
            "Metadata": {"message_key": email.message_key},
            "TrackOpens": False,
        }

    def _accepted(self, email: OutgoingEmail, message_id: str) -> DeliveryReceipt:
        log.info(
            "email.postmark_sent",
            message_key=email.message_key,
            message_id=message_id,
            tag=email.tag,
            recipient_domain=domain_of(email.to_address),
        )
        return DeliveryReceipt(provider=PROVIDER, message_id=message_id)

    def _classify(
        self, response: httpx.Response, body: dict[str, Any], error_code: int | None
    ) -> EmailDeliveryError:
        status = response.status_code
        if status == 200 and error_code in (0, None):
            # Postmark said yes but we cannot read the id. Retrying could send
            # the email twice, so it is not retried.
            return EmailDeliveryError(
                "Postmark accepted the email but its answer had no MessageID",
                transient=False,
                provider_code=error_code,
                status=status,
            )

        coded = status in (200, 422)
        if status >= 500 or status in _TRANSIENT_STATUSES:
            transient = True
        elif coded and error_code in POSTMARK_ERROR_CODES:
            transient = POSTMARK_ERROR_CODES[error_code].transient
        else:
            transient = False

        detail = self._safe_detail(body.get("Message"))
        code_text = "" if error_code is None else f", ErrorCode {error_code}"
        suffix = f": {detail}" if detail else ""
        return EmailDeliveryError(
            f"Postmark refused the email (HTTP {status}{code_text}){suffix}",
            transient=transient,
            provider_code=error_code,
            status=status,
            retry_after_seconds=_retry_after(response) if transient else None,
            recipient_inactive=coded and error_code == INACTIVE_RECIPIENT,
        )

    def _safe_detail(self, message: object) -> str:
        """Postmark's own words, without a token or any address's local part."""
        if not isinstance(message, str):
            return ""
        text = message.replace(self._token, "[token]") if self._token else message
        text = _LOCAL_PART.sub("***@", " ".join(text.split()))
        if len(text) > _DETAIL_LIMIT:
            text = f"{text[: _DETAIL_LIMIT - 3]}..."
        return text

    def _log_failure(self, email: OutgoingEmail, error: EmailDeliveryError) -> None:
        log.warning(
            "email.postmark_failed",
            message_key=email.message_key,
            tag=email.tag,
            status=error.status,
            error_code=error.provider_code,
            transient=error.transient,
        )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or an empty one if it is anything else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(body: dict[str, Any]) -> int | None:
    code = body.get("ErrorCode")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds; the HTTP-date form is left to our backoff."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86_400 else None
