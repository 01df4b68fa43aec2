"""Email addresses as people type them: checked loosely, compared lower-cased."""

from __future__ import annotations

import re

MAX_LENGTH = 320

# Deliberately loose: one @, something on each side, a dot in the domain, no
# spaces or control characters. The mail provider is the judge of delivery;
# this only stops what cannot be an address at all.
_PLAIN_ADDRESS = re.compile(
    r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+"
)


def is_plain_address(address: str) -> bool:
    return len(address) <= MAX_LENGTH and bool(_PLAIN_ADDRESS.fullmatch(address))


def normalize_address(address: str) -> str:
    """The form addresses are compared, made unique and suppressed in."""
    return address.strip().lower()


def domain_of(address: str) -> str:
    """The part after the @, lower-cased: what logs may show of an address."""
    return address.rpartition("@")[2].lower()
