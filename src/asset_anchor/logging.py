"""Structured logging on the standard library.

Log lines are events: a dotted name (``http.request``) plus key/value fields.
The request id (or job id) is kept in a context variable and added to every
line written while it is set. Production writes one JSON object a line to
stdout; development writes a readable line.

Usage::

    log = get_logger(__name__)
    log.info("payment.succeeded", payment_id=str(payment.id))
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asset_anchor.settings import Settings

_context: ContextVar[Mapping[str, object]] = ContextVar(
    "log_context", default=MappingProxyType({})
)

# Keys of a LogRecord that are the standard library's own, not event fields.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def current_context() -> Mapping[str, object]:
    """Fields bound to the running request or job."""
    return _context.get()


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Add fields to every log line written inside the ``with`` block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class EventLogger:
    """A thin wrapper that takes an event name and keyword fields."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(
        self, level: int, event: str, exc_info: bool, fields: dict[str, object]
    ) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(
                level,
                event,
                exc_info=exc_info,
                extra={"event_fields": fields},
                stacklevel=3,
            )

    def debug(self, event: str, **fields: object) -> None:
        self._log(logging.DEBUG, event, False, fields)

    def info(self, event: str, **fields: object) -> None:
        self._log(logging.INFO, event, False, fields)

    def warning(self, event: str, **fields: object) -> None:
        self._log(logging.WARNING, event, False, fields)

    def error(self, event: str, **fields: object) -> None:
        self._log(logging.ERROR, event, False, fields)

    def exception(self, event: str, **fields: object) -> None:
        """Log at ERROR with the current exception's traceback."""
        self._log(logging.ERROR, event, True, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(logging.getLogger(name))


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = dict(current_context())
    event_fields = getattr(record, "event_fields", None)
    if isinstance(event_fields, dict):
        fields.update(event_fields)
    # Third-party loggers pass extras as record attributes.
    for key, value in vars(record).items():
        if key not in _RESERVED and key != "event_fields":
            fields.setdefault(key, value)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for the platform's log collector."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(_fields(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """A readable line for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line = f"{line}  {fields}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(*, level: str, fmt: str) -> None:
    """Send every logger's output to stdout in the chosen format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log is replaced by ours (one line with duration).
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded development servers narrate every command at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def configure_error_reporting(
    settings: Settings,
    *,
    component: str,
    release: str,
) -> None:
    """Send unexpected errors to Sentry when ``SENTRY_DSN`` is set.

    Nothing personal or secret is sent: no request bodies, no user identity, no
    stack-frame variables (a frame's locals can hold a token, a password or a
    tenant's bank details), no query data; headers go through Sentry's
    denylist scrubber.
    """
    if settings.sentry_dsn is None:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        release=f"asset-anchor@{release}",
        traces_sample_rate=settings.sentry_traces_sample_rate,
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "stack_frame_variables": False,
            "database_query_data": False,
        },
        server_name=component,
    )
