"""The jobs the outbox can run, by dotted name (``email.send``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asset_anchor.jobs.context import JobContext

Handler = Callable[..., Awaitable[None]]
"""``async def handler(ctx: JobContext, **arguments) -> None``"""


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    max_tries: int | None
    """None: the deployment's ``JOB_MAX_TRIES``."""


_REGISTRY: dict[str, JobSpec] = {}


def job(name: str, *, max_tries: int | None = None) -> Callable[[Handler], Handler]:
    """Register a handler under a dotted job name.

    The handler receives the ``JobContext`` and the arguments given to
    ``enqueue`` as keywords. It must be idempotent: a job can run more than
    once (a worker killed after the work but before the commit).
    """

    def register(handler: Handler) -> Handler:
        if name in _REGISTRY and _REGISTRY[name].handler is not handler:
            raise ValueError(f"job {name!r} is registered twice")
        _REGISTRY[name] = JobSpec(name=name, handler=handler, max_tries=max_tries)
        return handler

    return register


def get_job(name: str) -> JobSpec | None:
    return _REGISTRY.get(name)


def registered_jobs() -> dict[str, JobSpec]:
    return dict(_REGISTRY)


async def call(spec: JobSpec, ctx: JobContext, arguments: dict[str, Any]) -> None:
    await spec.handler(ctx, **arguments)
