from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from asset_anchor.kit.time import ensure_utc, utc_now


class TestUtcNow:
    def test_now_is_aware_and_in_utc(self) -> None:
        before = datetime.now(UTC)

        now = utc_now()

        assert now.tzinfo is UTC
        assert now.utcoffset() == timedelta(0)
        assert before <= now <= datetime.now(UTC)


class TestEnsureUtc:
    def test_other_offset_is_converted_to_utc(self) -> None:
        local = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))

        converted = ensure_utc(local)

        assert converted.tzinfo is UTC
        assert converted.isoformat() == "2025-03-01T07:30:00+00:00"

    def test_naive_datetime_is_refused(self) -> None:
        naive = datetime(2025, 3, 1, 9, 30)  # noqa: DTZ001 - the case under test

        with pytest.raises(ValueError, match="naive"):
            ensure_utc(naive)
