from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from asset_anchor.logging import (
    ConsoleFormatter,
    EventLogger,
    JsonFormatter,
    bound,
    get_logger,
)


class LineCapture(logging.Handler):
    """Keeps every formatted line instead of writing it anywhere."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Captured:
    name: str
    log: EventLogger
    handler: LineCapture = field(repr=False)

    @property
    def lines(self) -> list[str]:
        return self.handler.lines

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


CaptureFactory = Callable[[logging.Formatter], Captured]


@pytest.fixture
def capture(request: pytest.FixtureRequest) -> Iterator[CaptureFactory]:
    """A logger of the test's own whose lines are kept, in a given format."""
    name = f"tests.logging.{request.node.name}"
    logger = logging.getLogger(name)
    handlers: list[LineCapture] = []

    def attach(formatter: logging.Formatter) -> Captured:
        handler = LineCapture()
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        handlers.append(handler)
        return Captured(name=name, log=get_logger(name), handler=handler)

    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield attach
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


class TestJsonFormatter:
    def test_line_is_one_json_object_with_event_and_fields(
        self, capture: CaptureFactory
    ) -> None:
        captured = capture(JsonFormatter())

        captured.log.info("lease.created", lease_id="lease-1", units=3)

        assert len(captured.lines) == 1
        assert "\n" not in captured.lines[0]
        payload = json.loads(captured.lines[0])
        assert payload["event"] == "lease.created"
        assert payload["level"] == "info"
        assert payload["logger"] == captured.name
        assert payload["lease_id"] == "lease-1"
        assert payload["units"] == 3

    def test_timestamp_is_aware_utc_iso_format(self, capture: CaptureFactory) -> None:
        captured = capture(JsonFormatter())

        captured.log.warning("cache.slow")

        stamp = datetime.fromisoformat(captured.json_lines()[0]["timestamp"])
        assert stamp.utcoffset() == timedelta(0)

    def test_exception_carries_the_traceback(self, capture: CaptureFactory) -> None:
        captured = capture(JsonFormatter())

        try:
            raise ValueError("boom-7f3a")
        except ValueError:
            captured.log.exception("job.failed", job_id="job-1")

        payload = captured.json_lines()[0]
        assert payload["level"] == "error"
        assert payload["job_id"] == "job-1"
        assert "Traceback (most recent call last)" in payload["exception"]
        assert "ValueError: boom-7f3a" in payload["exception"]

    def test_line_without_an_exception_has_no_exception_field(
        self, capture: CaptureFactory
    ) -> None:
        captured = capture(JsonFormatter())

        captured.log.error("payment.failed", payment_id="pay-1")

        assert "exception" not in captured.json_lines()[0]

    def test_extras_of_a_plain_standard_logger_become_fields(
        self, capture: CaptureFactory
    ) -> None:
        captured = capture(JsonFormatter())

        logging.getLogger(captured.name).info("vendor.call", extra={"vendor": "s3"})

        assert captured.json_lines()[0]["vendor"] == "s3"


class TestBound:
    def test_bound_fields_appear_only_inside_the_block(
        self, capture: CaptureFactory
    ) -> None:
        captured = capture(JsonFormatter())

        with bound(request_id="req-42"):
            captured.log.info("http.request")
        captured.log.info("http.idle")

        inside, after = captured.json_lines()
        assert inside["request_id"] == "req-42"
        assert "request_id" not in after

    def test_inner_block_adds_fields_and_exit_restores_the_outer_ones(
        self, capture: CaptureFactory
    ) -> None:
        captured = capture(JsonFormatter())

        with bound(request_id="req-42"):
            with bound(job_id="job-7"):
                captured.log.info("job.started")
            captured.log.info("job.enqueued")

        inner, outer = captured.json_lines()
        assert (inner["request_id"], inner["job_id"]) == ("req-42", "job-7")
        assert outer["request_id"] == "req-42"
        assert "job_id" not in outer

    def test_keyword_field_wins_over_a_bound_one(self, capture: CaptureFactory) -> None:
        captured = capture(JsonFormatter())

        with bound(request_id="req-42"):
            captured.log.info("http.request", request_id="req-override")

        assert captured.json_lines()[0]["request_id"] == "req-override"


class TestConsoleFormatter:
    def test_line_has_the_event_and_key_value_fields(
        self, capture: CaptureFactory
    ) -> None:
        captured = capture(ConsoleFormatter())

        captured.log.info("payment.succeeded", payment_id="pay-1", amount=1200)

        line = captured.lines[0]
        assert "INFO" in line
        assert "payment.succeeded" in line
        assert "payment_id=pay-1" in line
        assert "amount=1200" in line

    def test_bound_fields_are_shown_as_key_value(self, capture: CaptureFactory) -> None:
        captured = capture(ConsoleFormatter())

        with bound(request_id="req-42"):
            captured.log.debug("http.request")

        assert "request_id=req-42" in captured.lines[0]
