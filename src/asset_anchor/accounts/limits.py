"""Brute-force defences of the accounts API: rate limits and lockouts.

Counters live in Redis (``kit.ratelimit``), so every API instance sees the
same numbers; while Redis is down each instance falls back to counting in its
own memory, which is stricter per instance, never open.

Failed sign-ins are counted per account (keyed by the normalized email, for
addresses with and without an account alike, so a lock reveals nothing) and
per client address. Reaching the limit locks for a time that doubles with
each lock, up to an hour; an admin can lift an account's lock.

A password or code checked for a signed-in user (changing the password,
turning two-step verification off, replacing the recovery codes) goes through
the same locks: refused while they hold, and each wrong one counted. A stolen
access token is therefore no unlimited way to test guesses.
"""

from __future__ import annotations

import uuid

from asset_anchor.accounts.errors import AccountLocked
from asset_anchor.errors import TooManyRequests
from asset_anchor.kit.ratelimit import Limit, LockoutPolicy, RateLimiter

LOGIN_ACCOUNT = LockoutPolicy(
    name="login-account",
    max_failures=5,
    window_seconds=15 * 60,
    base_lock_seconds=60,
    max_lock_seconds=60 * 60,
    memory_seconds=24 * 60 * 60,
)
LOGIN_ADDRESS = LockoutPolicy(
    name="login-address",
    max_failures=30,
    window_seconds=15 * 60,
    base_lock_seconds=5 * 60,
    max_lock_seconds=60 * 60,
    memory_seconds=24 * 60 * 60,
)
MFA_ACCOUNT = LockoutPolicy(
    name="mfa-account",
    max_failures=5,
    window_seconds=15 * 60,
    base_lock_seconds=5 * 60,
    max_lock_seconds=60 * 60,
    memory_seconds=24 * 60 * 60,
)

LOGIN_PER_ADDRESS = Limit("login-address", max_hits=60, window_seconds=5 * 60)
REGISTER_PER_ADDRESS = Limit("register-address", max_hits=10, window_seconds=60 * 60)
RESET_PER_ADDRESS = Limit("reset-address", max_hits=10, window_seconds=60 * 60)
RESET_PER_EMAIL = Limit("reset-email", max_hits=3, window_seconds=60 * 60)
RESEND_PER_USER = Limit("resend-user", max_hits=3, window_seconds=60 * 60)
EMAIL_CHANGE_PER_USER = Limit("email-change-user", max_hits=5, window_seconds=60 * 60)
LINK_PER_ADDRESS = Limit("link-address", max_hits=30, window_seconds=15 * 60)

_UNKNOWN_ADDRESS = "unknown"


class AuthGuard:
    """The accounts API's view of the shared rate limiter."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def limit(self, limit: Limit, subject: str | None) -> None:
        """Count one request; raise 429 once the limit is passed."""
        verdict = await self._limiter.hit(limit, subject or _UNKNOWN_ADDRESS)
        if not verdict.allowed:
            raise TooManyRequests(
                verdict.retry_after_seconds, "Too many requests; try again later."
            )

    async def check_login_allowed(self, email: str, address: str | None) -> None:
        await self.limit(LOGIN_PER_ADDRESS, address)
        for policy, subject in (
            (LOGIN_ACCOUNT, email),
            (LOGIN_ADDRESS, address or _UNKNOWN_ADDRESS),
        ):
            verdict = await self._limiter.lock_status(policy, subject)
            if not verdict.allowed:
                raise AccountLocked(
                    verdict.retry_after_seconds,
                    "Too many failed sign-ins; try again later.",
                )

    async def login_failed(self, email: str, address: str | None) -> int | None:
        """Count a failure; the lock's seconds when this one locked the account."""
        await self._limiter.record_failure(LOGIN_ADDRESS, address or _UNKNOWN_ADDRESS)
        verdict = await self._limiter.record_failure(LOGIN_ACCOUNT, email)
        return None if verdict.allowed else verdict.retry_after_seconds

    async def login_succeeded(self, email: str) -> None:
        await self._limiter.clear_failures(LOGIN_ACCOUNT, email)

    async def unlock(self, email: str) -> None:
        await self._limiter.unlock(LOGIN_ACCOUNT, email)

    async def sign_in_locked(self, email: str) -> bool:
        """Whether the account's sign-in lock is in force (not the address's)."""
        verdict = await self._limiter.lock_status(LOGIN_ACCOUNT, email)
        return not verdict.allowed

    async def check_mfa_allowed(self, user_id: uuid.UUID) -> None:
        verdict = await self._limiter.lock_status(MFA_ACCOUNT, str(user_id))
        if not verdict.allowed:
            raise AccountLocked(
                verdict.retry_after_seconds, "Too many wrong codes; try again later."
            )

    async def mfa_failed(self, user_id: uuid.UUID) -> None:
        """Count a wrong code; raise once it locks second-factor checks."""
        verdict = await self._limiter.record_failure(MFA_ACCOUNT, str(user_id))
        if not verdict.allowed:
            raise AccountLocked(
                verdict.retry_after_seconds, "Too many wrong codes; try again later."
            )

    async def mfa_succeeded(self, user_id: uuid.UUID) -> None:
        await self._limiter.clear_failures(MFA_ACCOUNT, str(user_id))
