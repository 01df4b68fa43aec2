"""Stripe's webhook signatures: HMAC-SHA256 of ``"{timestamp}.{raw body}"``.

The ``Stripe-Signature`` header reads ``t=<unix seconds>,v1=<hex>[,v1=…]``;
during a secret's rotation Stripe sends one ``v1`` per secret. A request is
ours when some ``v1`` matches the body under some configured secret (the
platform's endpoint and the Connect endpoint have their own) and its
timestamp is within the tolerance, so that a captured request cannot be
replayed later. Only the raw bytes are signed: never re-serialized JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The request is not one Stripe signed with a secret of ours, recently."""


def _digest(secret: str, timestamp: int, payload: bytes) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, as Stripe makes it."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={_digest(secret, moment, payload)}"


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError as error:
                raise InvalidSignature("the timestamp is not a number") from error
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature("no timestamp or no v1 signature")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise ``InvalidSignature`` unless a configured secret signed ``payload``."""
    if not header:
        raise InvalidSignature("no Stripe-Signature header")
    if not secrets:
        raise InvalidSignature("no webhook secret is configured")
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise InvalidSignature("the signature is too old or from the future")
    for secret in secrets:
        expected = _digest(secret, timestamp, payload)
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return
    raise InvalidSignature("no signature matches")
