"""Time-based one-time passwords (RFC 6238), as authenticator apps compute them.

Only the parameters every app supports are used: HMAC-SHA1, six digits, a
30-second period. The algorithm is a few lines of standard library, so it is
written here rather than taken from a dependency.

Replay protection is the caller's job, helped by ``match_step``: it returns the
time step a code matched, the caller stores it, and passes it back as
``after_step`` so the same code (or an older one) is never accepted twice.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

from asset_anchor.kit.time import ensure_utc, utc_now

DIGITS = 6
PERIOD_SECONDS = 30
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block-size recommendation of RFC 4226

_ALGORITHM = "SHA1"
_ASCII_DIGITS = frozenset("0123456789")


def new_secret() -> str:
    """A fresh random secret, base32 without padding, as apps expect to scan it."""
    return _encode_secret(secrets.token_bytes(SECRET_BYTES))


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code.

    The issuer appears both as the label prefix and as a parameter: older apps
    read the first, newer ones the second. Both parts of the label are
    percent-encoded (spaces as ``%20``, never ``+``); the colon between them
    stays literal because it is the separator. ``@`` stays literal too, as it
    is allowed in a URI path and keeps an email label readable.
    """
    label = f"{_quote_label(issuer)}:{_quote_label(account_name)}"
    query = urlencode(
        {
            "secret": _encode_secret(_decode_secret(secret)),
            "issuer": issuer,
            "algorithm": _ALGORITHM,
            "digits": DIGITS,
            "period": PERIOD_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def code_at(secret: str, step: int) -> str:
    """The code for one time step (``unix_time // 30``), zero-padded."""
    if step < 0:
        raise ValueError("a time step cannot be negative")
    counter = struct.pack(">Q", step)
    digest = hmac.new(_decode_secret(secret), counter, hashlib.sha1).digest()
    # RFC 4226 dynamic truncation: the low nibble of the last byte picks four
    # bytes, whose top bit is dropped to avoid signed/unsigned ambiguity.
    offset = digest[-1] & 0x0F
    (truncated,) = struct.unpack(">I", digest[offset : offset + 4])
    return str((truncated & 0x7FFFFFFF) % 10**DIGITS).zfill(DIGITS)


def current_step(now: datetime | None = None) -> int:
    """The time step of ``now`` (aware; the present when omitted)."""
    instant = utc_now() if now is None else ensure_utc(now)
    return int(instant.timestamp()) // PERIOD_SECONDS


def match_step(
    secret: str,
    code: str,
    *,
    now: datetime | None = None,
    window: int = 1,
    after_step: int | None = None,
) -> int | None:
    """The time step ``code`` belongs to, or None if it matches none allowed.

    ``window`` steps either side of now are allowed, for clock drift and a code
    typed just as it changed. Steps at or before ``after_step`` (the last step
    the caller accepted) are never matched, so a code cannot be replayed.
    Anything but six ASCII digits (spaces aside, as apps show ``123 456``) is
    refused before any comparison.
    """
    if window < 0:
        raise ValueError("window cannot be negative")
    candidate = code.replace(" ", "")
    if len(candidate) != DIGITS or not set(candidate) <= _ASCII_DIGITS:
        return None
    center = current_step(now)
    for step in range(max(center - window, 0), center + window + 1):
        if after_step is not None and step <= after_step:
            continue
        # Constant time, so response timing reveals nothing about the code.
        if hmac.compare_digest(code_at(secret, step), candidate):
            return step
    return None


def _encode_secret(raw: bytes) -> str:
    """Base32 without the ``=`` padding that some apps reject."""
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _decode_secret(secret: str) -> bytes:
    """Decode a base32 secret as users and apps write it.

    Lower case, spaces and missing padding are accepted; anything else that is
    not base32 raises ValueError.
    """
    cleaned = secret.replace(" ", "").upper().rstrip("=")
    if not cleaned:
        raise ValueError("empty TOTP secret")
    padded = cleaned + "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(padded)
    except binascii.Error as error:
        raise ValueError("TOTP secret is not valid base32") from error


def _quote_label(part: str) -> str:
    """Percent-encode one half of the label; ``/`` and ``:`` included."""
    return quote(part, safe="@")
