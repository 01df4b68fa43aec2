"""Due dates and renewal terms: pure date arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from asset_anchor.leases import terms


class TestDueDate:
    def test_a_day_every_month_has_is_kept(self) -> None:
        assert terms.due_date(2026, 2, 15) == date(2026, 2, 15)

    def test_the_31st_falls_on_the_29th_in_a_leap_february(self) -> None:
        assert terms.due_date(2024, 2, 31) == date(2024, 2, 29)

    def test_the_31st_falls_on_the_28th_in_a_common_february(self) -> None:
        assert terms.due_date(2025, 2, 31) == date(2025, 2, 28)

    def test_the_29th_falls_on_the_28th_in_a_common_february(self) -> None:
        assert terms.due_date(2026, 2, 29) == date(2026, 2, 28)

    @pytest.mark.parametrize("month", [4, 6, 9, 11])
    def test_the_31st_falls_on_the_30th_in_30_day_months(self, month: int) -> None:
        assert terms.due_date(2026, month, 31) == date(2026, month, 30)

    def test_the_31st_is_kept_in_31_day_months(self) -> None:
        assert terms.due_date(2026, 12, 31) == date(2026, 12, 31)


class TestNextDueOn:
    def test_today_when_rent_falls_due_today(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2026, 3, 5),
            start_date=date(2026, 1, 1),
            end_date=None,
            due_day=5,
        )

        assert found == date(2026, 3, 5)

    def test_next_month_once_this_months_due_day_has_passed(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2026, 3, 6),
            start_date=date(2026, 1, 1),
            end_date=None,
            due_day=5,
        )

        assert found == date(2026, 4, 5)

    def test_the_year_turns_after_december(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2026, 12, 20),
            start_date=date(2026, 1, 1),
            end_date=None,
            due_day=1,
        )

        assert found == date(2027, 1, 1)

    def test_a_lease_not_yet_started_counts_from_its_start(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2026, 1, 10),
            start_date=date(2026, 6, 15),
            end_date=None,
            due_day=1,
        )

        assert found == date(2026, 7, 1)

    def test_the_31st_after_january_is_the_last_of_february(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2028, 2, 1),
            start_date=date(2028, 1, 1),
            end_date=None,
            due_day=31,
        )

        assert found == date(2028, 2, 29)

    def test_none_when_the_lease_ends_before_rent_is_due_again(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2026, 12, 2),
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            due_day=1,
        )

        assert found is None

    def test_the_last_day_of_the_lease_can_be_a_due_date(self) -> None:
        found = terms.next_due_on(
            on_or_after=date(2026, 12, 2),
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            due_day=31,
        )

        assert found == date(2026, 12, 31)


class TestNextRentDueOn:
    @pytest.mark.parametrize("status", ["ended", "terminated"])
    def test_a_lease_that_is_over_has_no_rent_to_come(self, status: str) -> None:
        found = terms.next_rent_due_on(
            status=status,
            start_date=date(2026, 1, 1),
            end_date=None,
            due_day=1,
            today=date(2026, 3, 3),
        )

        assert found is None

    @pytest.mark.parametrize("status", ["draft", "active"])
    def test_a_draft_or_active_lease_has_its_next_due_date(self, status: str) -> None:
        found = terms.next_rent_due_on(
            status=status,
            start_date=date(2026, 1, 1),
            end_date=None,
            due_day=1,
            today=date(2026, 3, 3),
        )

        assert found == date(2026, 4, 1)


class TestLocalToday:
    def test_the_date_at_the_property_not_in_utc(self) -> None:
        instant = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)

        assert terms.local_today("America/Los_Angeles", instant) == date(2026, 2, 28)
        assert terms.local_today("Asia/Tokyo", instant) == date(2026, 3, 1)


class TestRenewalEnd:
    def test_a_calendar_year_renews_for_a_calendar_year(self) -> None:
        found = terms.renewal_end(
            date(2026, 1, 1), date(2026, 12, 31), date(2027, 1, 1)
        )

        assert found == date(2027, 12, 31)

    def test_a_year_across_a_leap_day_renews_for_a_year(self) -> None:
        found = terms.renewal_end(
            date(2024, 1, 1), date(2024, 12, 31), date(2025, 1, 1)
        )

        assert found == date(2025, 12, 31)

    def test_six_months_from_the_15th_renew_for_six_months(self) -> None:
        found = terms.renewal_end(
            date(2026, 3, 15), date(2026, 9, 14), date(2026, 9, 15)
        )

        assert found == date(2027, 3, 14)

    def test_a_term_of_odd_length_renews_for_as_many_days(self) -> None:
        found = terms.renewal_end(date(2026, 1, 1), date(2026, 1, 10), date(2026, 2, 1))

        assert found == date(2026, 2, 10)


class TestAddMonths:
    def test_the_31st_plus_one_month_is_the_end_of_february(self) -> None:
        assert terms.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)

    def test_twelve_months_turn_the_year(self) -> None:
        assert terms.add_months(date(2026, 11, 30), 12) == date(2027, 11, 30)
