"""Rate limits and login lockouts shared by every API instance through Redis.

Counting happens in Redis so that all instances see one count per subject: an
attacker gains nothing by having requests spread over several instances. Each
operation is one atomic Lua script (or one MULTI/EXEC), so two instances
counting the same subject at the same moment cannot both slip past the limit.
Expiry is left to Redis TTLs, never to this machine's clock.

When Redis is unreachable (or slow past ``timeout_seconds``) the same operation
runs on a bounded in-memory store of this process. Limits then hold per
instance instead of per deployment, which is weaker but never wide open: an
outage of Redis must not become an open door for password guessing.

Subjects (client addresses, email addresses) are never written into keys or
logs as they are: keys carry a SHA-256 digest of the subject.

Key layout, ``<digest>`` being :func:`subject_digest` of the subject::

    <prefix>rl:hit:<limit name>:<digest>     attempts in the current window
    <prefix>rl:fail:<policy name>:<digest>   failures in the current window
    <prefix>rl:lock:<policy name>:<digest>   present while locked (TTL = lock)
    <prefix>rl:level:<policy name>:<digest>  how many locks are remembered
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from asset_anchor.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

DEFAULT_MAX_MEMORY_KEYS: Final = 100_000
# Names become part of Redis keys: keep them short and free of separators.
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
# While the store is full and nothing has expired, this share of the oldest
# entries goes at once, so that a flood of new subjects costs one scan per
# many inserts instead of one per insert.
_EVICT_SHARE: Final = 0.1

# INCR, then give the key its window if it has no expiry yet (EXPIRE NX, written
# out so that it also runs on Redis 6, which the embedded server is).
_HIT_SCRIPT: Final = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1]) * 1000
end
return {count, ttl}
"""

# KEYS: failures, lock, level. ARGV: max_failures, window, memory, then the
# lock durations by level (the last one is the cap). Returns {locked, pttl}.
_FAILURE_SCRIPT: Final = """
local locked = redis.call('PTTL', KEYS[2])
if locked ~= -2 then
  return {1, locked}
end
local failures = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if failures < tonumber(ARGV[1]) then
  return {0, 0}
end
local level = tonumber(redis.call('GET', KEYS[3]) or '0')
local seconds = tonumber(ARGV[math.min(level + 4, #ARGV)])
redis.call('SET', KEYS[2], '1', 'EX', seconds)
redis.call('SET', KEYS[3], level + 1, 'EX', seconds + tonumber(ARGV[3]))
redis.call('DEL', KEYS[1])
return {1, seconds * 1000}
"""


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"name must match {_NAME.pattern}: {name!r}")


@dataclass(frozen=True)
class Limit:
    """At most ``max_hits`` attempts per subject in a fixed window."""

    name: str
    max_hits: int
    window_seconds: int

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.max_hits < 1 or self.window_seconds < 1:
            raise ValueError("max_hits and window_seconds must be at least 1")


@dataclass(frozen=True)
class LockoutPolicy:
    """Lock a subject after repeated failures, for longer each time.

    The n-th lock (counting from 0) lasts ``base_lock_seconds * 2**n``, capped
    at ``max_lock_seconds``. The level is remembered for ``memory_seconds``
    after the latest lock ends, so a subject that keeps failing keeps growing
    its locks, while one that behaves for that long starts afresh.
    """

    name: str
    max_failures: int
    window_seconds: int
    base_lock_seconds: int
    max_lock_seconds: int
    memory_seconds: int

    def __post_init__(self) -> None:
        _check_name(self.name)
        if min(self.max_failures, self.window_seconds, self.memory_seconds) < 1:
            raise ValueError("counts and durations must be at least 1")
        if not 1 <= self.base_lock_seconds <= self.max_lock_seconds:
            raise ValueError("need 1 <= base_lock_seconds <= max_lock_seconds")

    def lock_durations(self) -> tuple[int, ...]:
        """Seconds of the lock by level; the last entry applies to every level
        beyond. One schedule serves Redis and memory, so they cannot differ."""
        durations: list[int] = []
        seconds = self.base_lock_seconds
        while seconds < self.max_lock_seconds:
            durations.append(seconds)
            seconds *= 2
        durations.append(self.max_lock_seconds)
        return tuple(durations)


@dataclass(frozen=True)
class Verdict:
    """Whether to go ahead; if not, how long until it is worth trying again."""

    allowed: bool
    retry_after_seconds: int


ALLOWED: Final = Verdict(allowed=True, retry_after_seconds=0)


def _refused(milliseconds: float) -> Verdict:
    """A refusal whose Retry-After is never 0, so clients do not spin."""
    return Verdict(
        allowed=False, retry_after_seconds=max(1, math.ceil(milliseconds / 1000))
    )


def subject_digest(subject: str) -> str:
    """What keys carry instead of the subject: an email must not sit in Redis."""
    return hashlib.sha256(subject.encode()).hexdigest()[:32]


class _MemoryStore:
    """Counters with expiry for one process, bounded in size.

    Used only while Redis is unreachable. Times are ``time.monotonic()`` so a
    clock change cannot lift a lock.
    """

    def __init__(self, max_keys: int) -> None:
        self._max_keys = max_keys
        # Insertion order is age order: the first entries are the oldest.
        self._entries: dict[str, tuple[int, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[int, float] | None:
        """The live ``(count, expires_at)`` of ``key``, dropping it if expired."""
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= time.monotonic():
            del self._entries[key]
            return None
        return entry

    def count(self, key: str) -> int:
        entry = self.get(key)
        return 0 if entry is None else entry[0]

    def incr(self, key: str, ttl_seconds: int) -> tuple[int, float]:
        """Add one; a new counter lives ``ttl_seconds`` (a fixed window)."""
        entry = self.get(key)
        if entry is None:
            return self.set(key, 1, ttl_seconds)
        self._entries[key] = (entry[0] + 1, entry[1])
        return self._entries[key]

    def set(self, key: str, value: int, ttl_seconds: int) -> tuple[int, float]:
        if key not in self._entries:
            self._make_room()
        else:
            del self._entries[key]  # re-inserted as the newest
        self._entries[key] = (value, time.monotonic() + ttl_seconds)
        return self._entries[key]

    def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    def _make_room(self) -> None:
        """Keep below the bound: expired entries go first, then the oldest."""
        if len(self._entries) < self._max_keys:
            return
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._entries.items() if expires <= now]:
            del self._entries[key]
        if len(self._entries) < self._max_keys:
            return
        excess = len(self._entries) - self._max_keys + 1
        evict = max(excess, int(self._max_keys * _EVICT_SHARE))
        for key in list(self._entries)[:evict]:
            del self._entries[key]


class RateLimiter:
    """Counts attempts and failures per subject, in Redis or, failing that, here.

    ``timeout_seconds`` bounds each Redis call, so a hanging Redis delays a
    request by at most that. After a failed call Redis is left alone for
    ``retry_interval_seconds`` (operations go straight to memory meanwhile), so
    an outage does not add the time box to every request.
    """

    def __init__(
        self,
        redis: Redis | None,
        *,
        prefix: str,
        timeout_seconds: float,
        retry_interval_seconds: float = 1.0,
        max_memory_keys: int = DEFAULT_MAX_MEMORY_KEYS,
    ) -> None:
        if timeout_seconds <= 0 or retry_interval_seconds < 0 or max_memory_keys < 1:
            raise ValueError("timeout, retry interval or memory bound out of range")
        self._redis = redis
        self._prefix = f"{prefix}rl:"
        self._timeout = timeout_seconds
        self._retry_interval = retry_interval_seconds
        self._memory = _MemoryStore(max_memory_keys)
        self._redis_down = False
        self._skip_redis_until = 0.0
        if redis is not None:
            self._hit_script = redis.register_script(_HIT_SCRIPT)
            self._failure_script = redis.register_script(_FAILURE_SCRIPT)

    def key(self, kind: str, name: str, subject: str) -> str:
        """The Redis key of ``subject`` (see the module docstring for kinds)."""
        return f"{self._prefix}{kind}:{name}:{subject_digest(subject)}"

    # Fixed-window rate limits.

    async def hit(self, limit: Limit, subject: str) -> Verdict:
        """Count one attempt; allowed while the window's count is <= max_hits."""
        key = self.key("hit", limit.name, subject)

        async def remote(redis: Redis) -> Verdict:
            count, pttl = await self._hit_script(
                keys=[key], args=[limit.window_seconds]
            )
            return ALLOWED if int(count) <= limit.max_hits else _refused(int(pttl))

        def local() -> Verdict:
            count, expires_at = self._memory.incr(key, limit.window_seconds)
            if count <= limit.max_hits:
                return ALLOWED
            return _refused((expires_at - time.monotonic()) * 1000)

        return await self._run(remote, local)

    async def peek(self, limit: Limit, subject: str) -> Verdict:
        """Would one more hit be allowed? Counts nothing.

        For limits that count only failures: peek before the work, hit after
        a failure.
        """
        key = self.key("hit", limit.name, subject)

        async def remote(redis: Redis) -> Verdict:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                value, pttl = await pipe.execute()
            if value is None or int(value) < limit.max_hits:
                return ALLOWED
            # A counter without expiry (set by hand) still blocks a window long.
            return _refused(limit.window_seconds * 1000 if pttl < 0 else pttl)

        def local() -> Verdict:
            entry = self._memory.get(key)
            if entry is None or entry[0] < limit.max_hits:
                return ALLOWED
            return _refused((entry[1] - time.monotonic()) * 1000)

        return await self._run(remote, local)

    async def reset(self, limit: Limit, subject: str) -> None:
        """Forget the subject's attempts in the current window."""
        key = self.key("hit", limit.name, subject)
        await self._delete([key])

    # Lockouts.

    async def lock_status(self, policy: LockoutPolicy, subject: str) -> Verdict:
        """Refused with the lock's remaining seconds while the subject is locked."""
        key = self.key("lock", policy.name, subject)

        async def remote(redis: Redis) -> Verdict:
            pttl = int(await redis.pttl(key))
            if pttl == -2:
                return self._memory_lock(key)
            # -1 is a lock without expiry (set by hand): still locked.
            return _refused(policy.max_lock_seconds * 1000 if pttl < 0 else pttl)

        return await self._run(remote, lambda: self._memory_lock(key))

    async def record_failure(self, policy: LockoutPolicy, subject: str) -> Verdict:
        """Count one failure; the ``max_failures``-th in the window locks.

        Returns the lock's verdict when this failure locked the subject, or
        when it was already locked (failures during a lock are not counted, so
        they do not lengthen the next lock); otherwise allowed.
        """
        failures, lock, level = self._lockout_keys(policy, subject)
        durations = policy.lock_durations()

        async def remote(redis: Redis) -> Verdict:
            held = self._memory_lock(lock)
            if not held.allowed:
                return held
            locked, pttl = await self._failure_script(
                keys=[failures, lock, level],
                args=[
                    policy.max_failures,
                    policy.window_seconds,
                    policy.memory_seconds,
                    *durations,
                ],
            )
            if not int(locked):
                return ALLOWED
            pttl = int(pttl)
            return _refused(policy.max_lock_seconds * 1000 if pttl < 0 else pttl)

        def local() -> Verdict:
            held = self._memory_lock(lock)
            if not held.allowed:
                return held
            count, _ = self._memory.incr(failures, policy.window_seconds)
            if count < policy.max_failures:
                return ALLOWED
            previous = self._memory.count(level)
            seconds = durations[min(previous, len(durations) - 1)]
            self._memory.set(lock, 1, seconds)
            self._memory.set(level, previous + 1, seconds + policy.memory_seconds)
            self._memory.delete(failures)
            return _refused(seconds * 1000)

        return await self._run(remote, local)

    async def clear_failures(self, policy: LockoutPolicy, subject: str) -> None:
        """After a success: forget the failures, but keep the lock level, so a
        guesser who also knows one password cannot reset their penalty."""
        failures, _, _ = self._lockout_keys(policy, subject)
        await self._delete([failures])

    async def unlock(self, policy: LockoutPolicy, subject: str) -> None:
        """An administrator's unlock: lock, failures and level all go."""
        await self._delete(list(self._lockout_keys(policy, subject)))

    def _memory_lock(self, key: str) -> Verdict:
        """A lock set in memory during an outage holds to its end, also once
        Redis answers again (Redis never heard of it)."""
        entry = self._memory.get(key)
        if entry is None:
            return ALLOWED
        return _refused((entry[1] - time.monotonic()) * 1000)

    def _lockout_keys(
        self, policy: LockoutPolicy, subject: str
    ) -> tuple[str, str, str]:
        return (
            self.key("fail", policy.name, subject),
            self.key("lock", policy.name, subject),
            self.key("level", policy.name, subject),
        )

    # Redis, or memory when Redis cannot answer.

    async def _delete(self, keys: list[str]) -> None:
        """Delete in Redis and in memory: what was counted during an outage must
        not outlive a reset or an unlock once Redis is back."""
        self._memory.delete(*keys)

        async def remote(redis: Redis) -> None:
            await redis.delete(*keys)

        await self._run(remote, lambda: None)

    async def _run(
        self, remote: Callable[[Redis], Awaitable[T]], local: Callable[[], T]
    ) -> T:
        """Run ``remote`` on Redis within the time box; ``local`` if that fails."""
        redis = self._redis
        if redis is None:
            self._mark_down("RedisNotConfigured")
        elif time.monotonic() >= self._skip_redis_until:
            try:
                async with asyncio.timeout(self._timeout):
                    result = await remote(redis)
            except (RedisError, OSError, TimeoutError) as error:
                self._skip_redis_until = time.monotonic() + self._retry_interval
                self._mark_down(type(error).__name__)
            else:
                self._mark_up()
                return result
        return local()

    def _mark_down(self, error_type: str) -> None:
        """Warn once per outage: a warning per request would drown the logs."""
        if not self._redis_down:
            self._redis_down = True
            log.warning("ratelimit.redis_unavailable", error_type=error_type)

    def _mark_up(self) -> None:
        if self._redis_down:
            self._redis_down = False
            log.info("ratelimit.redis_restored", memory_keys=len(self._memory))
