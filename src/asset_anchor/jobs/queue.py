"""The arq queue as both sides see it: JSON payloads and job ids."""

from __future__ import annotations

import json
import uuid
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis

from asset_anchor.settings import Settings

RUN_OUTBOX_JOB = "outbox.run"
"""The one arq function that runs outbox rows; the row names the real job."""


def _json_default(value: object) -> object:
    if isinstance(value, BaseException):
        return {"error": type(value).__name__, "message": str(value)}
    return str(value)


def serialize(payload: Any) -> bytes:
    """arq's payloads as JSON: nothing user-controlled is ever unpickled."""
    return json.dumps(payload, default=_json_default, separators=(",", ":")).encode()


def deserialize(raw: bytes) -> Any:
    return json.loads(raw)


def arq_job_id(settings: Settings, outbox_id: uuid.UUID) -> str:
    """One arq job id per outbox row, so a second hand-over is refused by arq."""
    return f"{settings.redis_key_prefix}outbox:{outbox_id}"


def queue_on(redis: Redis, settings: Settings) -> ArqRedis:
    """An arq client that shares an existing Redis client's connection pool."""
    return ArqRedis(
        pool_or_conn=redis.connection_pool,
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.arq_queue_name,
    )
