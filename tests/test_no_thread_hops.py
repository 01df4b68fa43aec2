"""Every endpoint and every dependency is a coroutine.

FastAPI runs a plain ``def`` endpoint or dependency in its thread pool: a
thread hop on every request that uses it, and a pool that a slow one can
exhaust. Work that must leave the event loop (password hashing, zxcvbn)
says so where it happens, with ``asyncio.to_thread``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from asset_anchor.app import create_app
from asset_anchor.settings import Settings


def _calls(dependant: Dependant, where: str) -> Iterator[tuple[str, Any]]:
    for child in dependant.dependencies:
        if child.call is not None:
            yield where, child.call
        yield from _calls(child, where)


def _runs_on_the_loop(call: Any) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = getattr(type(call), "__call__", None)  # noqa: B004 - instances
    return method is not None and (
        inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
    )


def test_no_endpoint_or_dependency_runs_in_the_thread_pool(settings: Settings) -> None:
    app = create_app(settings)
    # Included routers stay nested in ``app.routes``; this flattens them.
    routes = [
        context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]
    found = []
    for route in routes:
        where = f"{sorted(route.methods or ())} {route.path}"
        if not _runs_on_the_loop(route.endpoint):
            found.append(f"{where}: the endpoint {route.endpoint.__qualname__}")
        for place, call in _calls(route.dependant, where):
            if not _runs_on_the_loop(call):
                name = getattr(call, "__qualname__", type(call).__qualname__)
                found.append(f"{place}: the dependency {name}")

    assert routes, "no routes found"
    assert not found, "\n".join(sorted(set(found)))
