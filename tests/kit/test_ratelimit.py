"""Rate limits and lockouts on the real Redis, shared by instances, and in memory
while Redis is unreachable (limits weaken to per instance but still hold)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from asset_anchor.kit.ratelimit import (
    ALLOWED,
    Limit,
    LockoutPolicy,
    RateLimiter,
    Verdict,
    subject_digest,
)
from tests.conftest import REDIS_PREFIX
from tests.support.proxy import TcpProxy, free_port
from tests.support.servers import redis_proxy

LOGGER = "asset_anchor.kit.ratelimit"
EMAIL = "jordan.lee@example.test"
LOGIN = Limit(name="login.ip", max_hits=3, window_seconds=60)
POLICY = LockoutPolicy(
    name="login.email",
    max_failures=3,
    window_seconds=60,
    base_lock_seconds=10,
    max_lock_seconds=25,
    memory_seconds=3600,
)


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"{REDIS_PREFIX}rl-{secrets.token_hex(3)}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def limiter(redis: Redis, prefix: str) -> RateLimiter:
    return RateLimiter(redis, prefix=prefix, timeout_seconds=2.0)


@pytest.fixture
async def other_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A second client, as a second API instance would have."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def other_limiter(other_redis: Redis, prefix: str) -> RateLimiter:
    return RateLimiter(other_redis, prefix=prefix, timeout_seconds=2.0)


@pytest.fixture
async def dead_redis() -> AsyncIterator[Redis]:
    """A client of a port nothing listens on."""
    client = Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0",
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
    )
    yield client
    await client.aclose()


@pytest.fixture
async def cache_proxy(redis_url: str) -> AsyncIterator[tuple[TcpProxy, str]]:
    proxy, url = redis_proxy(redis_url)
    await proxy.start()
    yield proxy, url
    await proxy.close()


async def hits(limiter: RateLimiter, limit: Limit, subject: str, n: int) -> list[bool]:
    return [(await limiter.hit(limit, subject)).allowed for _ in range(n)]


async def fail(
    limiter: RateLimiter, policy: LockoutPolicy, subject: str, n: int
) -> list[Verdict]:
    return [await limiter.record_failure(policy, subject) for _ in range(n)]


async def keys_under(redis: Redis, prefix: str) -> list[str]:
    return sorted([key.decode() async for key in redis.scan_iter(match=f"{prefix}*")])


def events(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == LOGGER and record.getMessage() == event
    ]


class TestHit:
    async def test_allows_max_hits_then_refuses_with_retry_after(
        self, limiter: RateLimiter
    ) -> None:
        allowed = await hits(limiter, LOGIN, "203.0.113.7", 3)
        refused = await limiter.hit(LOGIN, "203.0.113.7")

        assert allowed == [True, True, True]
        assert not refused.allowed
        assert 0 < refused.retry_after_seconds <= LOGIN.window_seconds
        assert (await limiter.hit(LOGIN, "203.0.113.7")).allowed is False

    async def test_allowed_verdict_has_no_retry_after(
        self, limiter: RateLimiter
    ) -> None:
        assert await limiter.hit(LOGIN, "203.0.113.7") == ALLOWED
        assert ALLOWED.retry_after_seconds == 0

    async def test_subjects_and_limits_are_counted_apart(
        self, limiter: RateLimiter
    ) -> None:
        signup = Limit(name="signup.ip", max_hits=3, window_seconds=60)
        await hits(limiter, LOGIN, "203.0.113.7", 4)

        assert (await limiter.hit(LOGIN, "203.0.113.8")).allowed
        assert (await limiter.hit(signup, "203.0.113.7")).allowed

    async def test_peek_counts_nothing(self, limiter: RateLimiter) -> None:
        before = [await limiter.peek(LOGIN, "203.0.113.7") for _ in range(5)]
        await hits(limiter, LOGIN, "203.0.113.7", 2)
        still_room = await limiter.peek(LOGIN, "203.0.113.7")
        last = await limiter.hit(LOGIN, "203.0.113.7")
        full = await limiter.peek(LOGIN, "203.0.113.7")

        assert before == [ALLOWED] * 5
        assert still_room == ALLOWED
        assert last.allowed  # the five peeks used up nothing
        assert not full.allowed
        assert 0 < full.retry_after_seconds <= LOGIN.window_seconds

    async def test_reset_starts_the_count_again(self, limiter: RateLimiter) -> None:
        await hits(limiter, LOGIN, "203.0.113.7", 4)

        await limiter.reset(LOGIN, "203.0.113.7")

        assert await hits(limiter, LOGIN, "203.0.113.7", 4) == [True, True, True, False]

    async def test_window_ends_and_hits_are_allowed_again(
        self, limiter: RateLimiter
    ) -> None:
        short = Limit(name="short", max_hits=2, window_seconds=1)
        await hits(limiter, short, "203.0.113.7", 2)
        refused = await limiter.hit(short, "203.0.113.7")

        await asyncio.sleep(1.2)

        assert refused == Verdict(allowed=False, retry_after_seconds=1)
        assert await hits(limiter, short, "203.0.113.7", 3) == [True, True, False]

    async def test_keys_never_hold_the_raw_subject(
        self, limiter: RateLimiter, redis: Redis, prefix: str
    ) -> None:
        await limiter.hit(LOGIN, EMAIL)
        await fail(limiter, POLICY, EMAIL, 3)

        keys = await keys_under(redis, prefix)

        digest = subject_digest(EMAIL)
        # No failure counter: the lock cleared it.
        assert keys == [
            f"{prefix}rl:hit:login.ip:{digest}",
            f"{prefix}rl:level:login.email:{digest}",
            f"{prefix}rl:lock:login.email:{digest}",
        ]
        assert all("jordan" not in key and "example" not in key for key in keys)
        assert len(digest) == 32


class TestSharedAcrossInstances:
    async def test_two_instances_share_one_count(
        self, limiter: RateLimiter, other_limiter: RateLimiter
    ) -> None:
        first = await limiter.hit(LOGIN, "203.0.113.7")
        second = await other_limiter.hit(LOGIN, "203.0.113.7")
        third = await limiter.hit(LOGIN, "203.0.113.7")
        fourth = await other_limiter.hit(LOGIN, "203.0.113.7")

        assert [first.allowed, second.allowed, third.allowed] == [True, True, True]
        assert not fourth.allowed
        assert not (await limiter.peek(LOGIN, "203.0.113.7")).allowed

    async def test_concurrent_hits_on_two_instances_allow_exactly_max_hits(
        self, limiter: RateLimiter, other_limiter: RateLimiter
    ) -> None:
        limit = Limit(name="burst", max_hits=5, window_seconds=60)

        verdicts = await asyncio.gather(
            *(
                (limiter if i % 2 else other_limiter).hit(limit, "203.0.113.7")
                for i in range(30)
            )
        )

        assert sum(verdict.allowed for verdict in verdicts) == 5

    async def test_failures_through_one_instance_lock_the_other(
        self, limiter: RateLimiter, other_limiter: RateLimiter
    ) -> None:
        await fail(limiter, POLICY, EMAIL, 2)
        locking = await other_limiter.record_failure(POLICY, EMAIL)
        seen_by_first = await limiter.lock_status(POLICY, EMAIL)

        assert locking == Verdict(allowed=False, retry_after_seconds=10)
        assert not seen_by_first.allowed
        assert 0 < seen_by_first.retry_after_seconds <= 10

    async def test_concurrent_failures_lock_once(
        self, limiter: RateLimiter, other_limiter: RateLimiter
    ) -> None:
        verdicts = await asyncio.gather(
            *(
                (limiter if i % 2 else other_limiter).record_failure(POLICY, EMAIL)
                for i in range(12)
            )
        )

        allowed = sum(verdict.allowed for verdict in verdicts)
        assert allowed == POLICY.max_failures - 1
        # One lock only: the first lock's length, not a grown one.
        assert {v.retry_after_seconds for v in verdicts if not v.allowed} <= {9, 10}


class TestLockout:
    async def test_max_failures_lock_with_retry_after(
        self, limiter: RateLimiter
    ) -> None:
        before = await fail(limiter, POLICY, EMAIL, 2)
        locking = await limiter.record_failure(POLICY, EMAIL)
        status = await limiter.lock_status(POLICY, EMAIL)

        assert before == [ALLOWED, ALLOWED]
        assert locking == Verdict(allowed=False, retry_after_seconds=10)
        assert not status.allowed
        assert 0 < status.retry_after_seconds <= 10

    async def test_not_locked_before_any_failure(self, limiter: RateLimiter) -> None:
        assert await limiter.lock_status(POLICY, EMAIL) == ALLOWED

    async def test_locks_grow_and_are_capped(
        self, limiter: RateLimiter, redis: Redis
    ) -> None:
        lock_key = limiter.key("lock", POLICY.name, EMAIL)
        lengths = []
        for _ in range(4):
            verdict = (await fail(limiter, POLICY, EMAIL, 3))[-1]
            lengths.append(verdict.retry_after_seconds)
            await redis.delete(lock_key)  # stands for the lock running out

        assert lengths == [10, 20, 25, 25]

    async def test_lock_runs_out_and_the_next_one_is_longer(
        self, limiter: RateLimiter
    ) -> None:
        policy = LockoutPolicy(
            name="mfa.user",
            max_failures=2,
            window_seconds=60,
            base_lock_seconds=1,
            max_lock_seconds=60,
            memory_seconds=60,
        )
        first = (await fail(limiter, policy, EMAIL, 2))[-1]

        await asyncio.sleep(1.2)
        after_lock = await limiter.lock_status(policy, EMAIL)
        second = (await fail(limiter, policy, EMAIL, 2))[-1]

        assert first == Verdict(allowed=False, retry_after_seconds=1)
        assert after_lock == ALLOWED
        assert second == Verdict(allowed=False, retry_after_seconds=2)

    async def test_failures_while_locked_are_not_counted(
        self, limiter: RateLimiter, redis: Redis
    ) -> None:
        await fail(limiter, POLICY, EMAIL, 3)

        during = await fail(limiter, POLICY, EMAIL, 5)
        await redis.delete(limiter.key("lock", POLICY.name, EMAIL))
        after = await fail(limiter, POLICY, EMAIL, 3)

        assert all(not verdict.allowed for verdict in during)
        assert [verdict.allowed for verdict in after] == [True, True, False]
        assert after[-1].retry_after_seconds == 20

    async def test_clear_failures_resets_the_counter_but_keeps_the_level(
        self, limiter: RateLimiter, redis: Redis
    ) -> None:
        await fail(limiter, POLICY, EMAIL, 2)
        await limiter.clear_failures(POLICY, EMAIL)
        after_success = await fail(limiter, POLICY, EMAIL, 3)
        await redis.delete(limiter.key("lock", POLICY.name, EMAIL))
        await limiter.clear_failures(POLICY, EMAIL)
        later = await fail(limiter, POLICY, EMAIL, 3)

        assert [verdict.allowed for verdict in after_success] == [True, True, False]
        assert after_success[-1].retry_after_seconds == 10
        assert [verdict.allowed for verdict in later] == [True, True, False]
        assert later[-1].retry_after_seconds == 20

    async def test_unlock_clears_lock_failures_and_level(
        self, limiter: RateLimiter, redis: Redis, prefix: str
    ) -> None:
        await fail(limiter, POLICY, EMAIL, 3)
        await fail(limiter, POLICY, "someone@example.test", 1)

        await limiter.unlock(POLICY, EMAIL)

        assert await limiter.lock_status(POLICY, EMAIL) == ALLOWED
        assert await keys_under(redis, f"{prefix}rl:") == [
            limiter.key("fail", POLICY.name, "someone@example.test")
        ]
        again = await fail(limiter, POLICY, EMAIL, 3)
        assert [verdict.allowed for verdict in again] == [True, True, False]
        assert again[-1].retry_after_seconds == 10


class TestRedisUnreachable:
    async def test_limits_still_apply_from_memory_and_warn_once(
        self, dead_redis: Redis, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger=LOGGER)
        # No pause between attempts, so every call really tries Redis.
        limiter = RateLimiter(
            dead_redis, prefix="x:", timeout_seconds=1.0, retry_interval_seconds=0
        )

        allowed = await hits(limiter, LOGIN, "203.0.113.7", 3)
        refused = await limiter.hit(LOGIN, "203.0.113.7")
        peeked = await limiter.peek(LOGIN, "203.0.113.7")

        assert allowed == [True, True, True]
        assert not refused.allowed
        assert 0 < refused.retry_after_seconds <= LOGIN.window_seconds
        assert not peeked.allowed
        warnings = events(caplog, "ratelimit.redis_unavailable")
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING
        assert warnings[0].__dict__["event_fields"]["error_type"]
        assert EMAIL not in caplog.text

    async def test_lockout_still_applies_from_memory(self, dead_redis: Redis) -> None:
        limiter = RateLimiter(dead_redis, prefix="x:", timeout_seconds=1.0)

        verdicts = await fail(limiter, POLICY, EMAIL, 3)
        status = await limiter.lock_status(POLICY, EMAIL)
        await limiter.unlock(POLICY, EMAIL)
        second = (await fail(limiter, POLICY, EMAIL, 3))[-1]

        assert verdicts[-1] == Verdict(allowed=False, retry_after_seconds=10)
        assert not status.allowed
        assert 0 < status.retry_after_seconds <= 10
        assert second.retry_after_seconds == 10  # unlock dropped the level

    async def test_locks_grow_in_memory_too(self, dead_redis: Redis) -> None:
        limiter = RateLimiter(dead_redis, prefix="x:", timeout_seconds=1.0)
        policy = LockoutPolicy(
            name="mfa.user",
            max_failures=1,
            window_seconds=60,
            base_lock_seconds=1,
            max_lock_seconds=60,
            memory_seconds=60,
        )
        first = await limiter.record_failure(policy, EMAIL)

        await asyncio.sleep(1.2)
        await limiter.clear_failures(policy, EMAIL)
        second = await limiter.record_failure(policy, EMAIL)

        assert first.retry_after_seconds == 1
        assert second == Verdict(allowed=False, retry_after_seconds=2)

    async def test_without_a_redis_client_limits_apply_in_memory(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger=LOGGER)
        limiter = RateLimiter(None, prefix="x:", timeout_seconds=1.0)

        results = await hits(limiter, LOGIN, "203.0.113.7", 5)

        assert results == [True, True, True, False, False]
        assert len(events(caplog, "ratelimit.redis_unavailable")) == 1

    async def test_hanging_redis_is_time_boxed(
        self, cache_proxy: tuple[TcpProxy, str], prefix: str
    ) -> None:
        proxy, url = cache_proxy
        await proxy.hang()
        client = Redis.from_url(url)
        limiter = RateLimiter(client, prefix=prefix, timeout_seconds=0.3)
        try:
            # The outer bound only turns a missing time box into a failure
            # instead of a test run that never ends.
            async with asyncio.timeout(10):
                results = await hits(limiter, LOGIN, "203.0.113.7", 4)
        finally:
            await client.aclose()

        assert results == [True, True, True, False]

    async def test_restored_redis_is_logged_and_used_again(
        self,
        cache_proxy: tuple[TcpProxy, str],
        redis: Redis,
        prefix: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.INFO, logger=LOGGER)
        proxy, url = cache_proxy
        client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        limiter = RateLimiter(
            client, prefix=prefix, timeout_seconds=1.0, retry_interval_seconds=0
        )
        try:
            await proxy.refuse()
            during = await hits(limiter, LOGIN, "203.0.113.7", 2)
            await proxy.restore()
            after = await limiter.hit(LOGIN, "203.0.113.7")
        finally:
            await client.aclose()

        assert during == [True, True]
        assert after.allowed
        assert len(events(caplog, "ratelimit.redis_unavailable")) == 1
        assert len(events(caplog, "ratelimit.redis_restored")) == 1
        # The hit after the outage was counted in the shared store.
        assert await redis.get(limiter.key("hit", LOGIN.name, "203.0.113.7")) == b"1"

    async def test_lock_from_an_outage_holds_after_redis_returns(
        self, cache_proxy: tuple[TcpProxy, str], prefix: str
    ) -> None:
        proxy, url = cache_proxy
        client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        limiter = RateLimiter(
            client, prefix=prefix, timeout_seconds=1.0, retry_interval_seconds=0
        )
        try:
            await proxy.refuse()
            locking = (await fail(limiter, POLICY, EMAIL, 3))[-1]
            await proxy.restore()
            status = await limiter.lock_status(POLICY, EMAIL)
            failure = await limiter.record_failure(POLICY, EMAIL)
        finally:
            await client.aclose()

        assert not locking.allowed
        assert not status.allowed
        assert not failure.allowed


class TestValidation:
    def test_limits_and_policies_refuse_nonsense(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            Limit(name="login.ip", max_hits=0, window_seconds=60)
        with pytest.raises(ValueError, match="name must match"):
            Limit(name="Login:ip", max_hits=1, window_seconds=60)
        with pytest.raises(ValueError, match="base_lock_seconds"):
            LockoutPolicy(
                name="login.email",
                max_failures=3,
                window_seconds=60,
                base_lock_seconds=100,
                max_lock_seconds=10,
                memory_seconds=60,
            )

    def test_lock_durations_double_up_to_the_cap(self) -> None:
        assert POLICY.lock_durations() == (10, 20, 25)
