"""The rent schedule: which periods are charged, when, and for how much.

Figures are worked out by hand: a partial month is rent x days covered /
days in the month, rounded half up to the cent.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import ledger, schedule, service
from tests.billing.schedule_support import (
    at,
    audit_of,
    make_lease,
    make_organization,
    pay,
    periods,
    rent_charges,
)


class TestOneRoundingRule:
    @pytest.mark.parametrize(
        ("amount", "days", "in_month", "expected"),
        [
            (100_000, 12, 31, 38_710),  # 38,709.68
            (100_000, 15, 29, 51_724),  # 51,724.14
            (100_001, 15, 30, 50_001),  # 50,000.5: half up, not to even
            (100_003, 15, 30, 50_002),  # 50,001.5
            (1, 15, 30, 1),  # 0.5
            (1, 14, 30, 0),
            (0, 10, 31, 0),
        ],
    )
    def test_prorate_rounds_half_up(
        self, amount: int, days: int, in_month: int, expected: int
    ) -> None:
        assert schedule.prorate(amount, days, in_month) == expected

    def test_a_percentage_rounds_half_up(self) -> None:
        assert schedule.percent_of(1_050, 500) == 53  # 52.5
        assert schedule.percent_of(100_000, 250) == 2_500

    async def test_sql_and_python_round_alike(self, db: AsyncSession) -> None:
        cases = [
            (amount, days, in_month)
            for amount in (1, 3, 7, 99, 1_001, 100_001, 123_457, 10**11)
            for in_month in (28, 29, 30, 31)
            for days in range(1, in_month + 1)
        ]
        expression = schedule.share_sql("c.amount", "c.days", "c.in_month")

        rows = await db.execute(
            text(
                f"SELECT c.amount, c.days, c.in_month, {expression} AS share"  # noqa: S608
                " FROM unnest(CAST(:amounts AS bigint[]), CAST(:days AS int[]),"
                " CAST(:months AS int[])) AS c(amount, days, in_month)"
            ),
            {
                "amounts": [case[0] for case in cases],
                "days": [case[1] for case in cases],
                "months": [case[2] for case in cases],
            },
        )

        differing = [
            row
            for row in rows
            if row.share != schedule.prorate(row.amount, row.days, row.in_month)
        ]
        assert len(cases) > 900
        assert differing == []


class TestWorkedExamples:
    async def test_a_whole_31_day_month_is_the_whole_rent(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 1), rent=100_000)

        await schedule.charge_rent(db, now=at(2026, 12, 28))

        assert periods(await rent_charges(db, lease)) == [
            (
                date(2027, 1, 1),
                date(2027, 1, 1),
                date(2027, 1, 31),
                date(2027, 1, 1),
                100_000,
            ),
        ]

    async def test_a_mid_month_move_in_is_prorated_and_due_when_it_starts(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 20), rent=100_000)

        await schedule.charge_rent(db, now=at(2027, 1, 20))

        # 12 of January's 31 days: 38,709.68 → 38,710.
        assert periods(await rent_charges(db, lease)) == [
            (
                date(2027, 1, 1),
                date(2027, 1, 20),
                date(2027, 1, 31),
                date(2027, 1, 20),
                38_710,
            ),
        ]

    async def test_a_mid_month_move_out_is_prorated(self, db: AsyncSession) -> None:
        place = await make_organization(db)
        lease = await make_lease(
            db, place, start=date(2027, 1, 1), end=date(2027, 3, 10), rent=100_000
        )

        await schedule.charge_rent(db, now=at(2027, 3, 1))

        # 10 of March's 31 days: 32,258.06 → 32,258.
        assert periods(await rent_charges(db, lease)) == [
            (
                date(2027, 1, 1),
                date(2027, 1, 1),
                date(2027, 1, 31),
                date(2027, 1, 1),
                100_000,
            ),
            (
                date(2027, 2, 1),
                date(2027, 2, 1),
                date(2027, 2, 28),
                date(2027, 2, 1),
                100_000,
            ),
            (
                date(2027, 3, 1),
                date(2027, 3, 1),
                date(2027, 3, 10),
                date(2027, 3, 1),
                32_258,
            ),
        ]

    async def test_rent_due_after_the_last_day_falls_due_on_the_last_day(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(
            db,
            place,
            start=date(2027, 2, 1),
            end=date(2027, 3, 10),
            due_day=15,
            rent=100_000,
        )

        await schedule.charge_rent(db, now=at(2027, 3, 5))

        [_, march] = await rent_charges(db, lease)
        assert (march.effective_on, march.amount) == (date(2027, 3, 10), 32_258)

    async def test_a_lease_starting_and_ending_in_one_month_rounds_half_up(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(
            db, place, start=date(2027, 4, 6), end=date(2027, 4, 20), rent=100_001
        )

        await schedule.charge_rent(db, now=at(2027, 4, 6))

        # 15 of April's 30 days: 50,000.5 → 50,001.
        assert periods(await rent_charges(db, lease)) == [
            (
                date(2027, 4, 1),
                date(2027, 4, 6),
                date(2027, 4, 20),
                date(2027, 4, 6),
                50_001,
            ),
        ]

    @pytest.mark.parametrize(
        ("year", "expected"),
        [
            (2028, 51_724),  # 15 of 29 days: 51,724.14
            (2027, 50_000),  # 14 of 28 days
        ],
    )
    async def test_a_february_move_in_counts_that_februarys_days(
        self, db: AsyncSession, year: int, expected: int
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(year, 2, 15), rent=100_000)

        await schedule.charge_rent(db, now=at(year, 2, 15))

        [february] = await rent_charges(db, lease)
        assert february.period_end == date(year, 2, 28 if year == 2027 else 29)
        assert february.amount == expected

    async def test_due_day_31_falls_on_the_last_day_of_shorter_months(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(
            db, place, start=date(2027, 1, 1), due_day=31, rent=100_000
        )

        await schedule.charge_rent(db, now=at(2027, 4, 30))

        assert [
            (charge.effective_on, charge.amount)
            for charge in await rent_charges(db, lease)
        ] == [
            (date(2027, 1, 31), 100_000),
            (date(2027, 2, 28), 100_000),
            (date(2027, 3, 31), 100_000),
            (date(2027, 4, 30), 100_000),
        ]

    async def test_due_day_31_in_a_leap_february_is_the_29th(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(
            db, place, start=date(2028, 2, 1), due_day=31, rent=100_000
        )

        await schedule.charge_rent(db, now=at(2028, 2, 25))

        [february] = await rent_charges(db, lease)
        assert (february.effective_on, february.amount) == (date(2028, 2, 29), 100_000)


class TestWhenRentIsCharged:
    async def test_a_charge_is_made_days_ahead_of_its_due_date_not_sooner(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db, days_ahead=5)
        lease = await make_lease(db, place, start=date(2027, 1, 10), due_day=10)

        await schedule.charge_rent(db, now=at(2027, 2, 4, zone="America/New_York"))
        before = len(await rent_charges(db, lease))
        await schedule.charge_rent(db, now=at(2027, 2, 5, zone="America/New_York"))

        assert before == 1  # January's only
        assert [c.rent_period for c in await rent_charges(db, lease)] == [
            date(2027, 1, 1),
            date(2027, 2, 1),
        ]

    async def test_with_no_days_ahead_rent_is_charged_on_its_due_date(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db, days_ahead=0)
        lease = await make_lease(db, place, start=date(2027, 1, 1), due_day=10)

        await schedule.charge_rent(db, now=at(2027, 1, 9, 23, zone="America/New_York"))
        before = len(await rent_charges(db, lease))
        await schedule.charge_rent(db, now=at(2027, 1, 10, 0, zone="America/New_York"))

        assert before == 0
        assert len(await rent_charges(db, lease)) == 1

    async def test_a_lease_onboarded_long_after_it_began_is_charged_from_activation(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(
            db,
            place,
            start=date(2024, 1, 1),
            activated_at=at(2027, 3, 15, zone="America/New_York"),
        )

        await schedule.charge_rent(db, now=at(2027, 3, 16))

        # March, whose due date had passed, but nothing before it.
        assert periods(await rent_charges(db, lease)) == [
            (
                date(2027, 3, 1),
                date(2027, 3, 1),
                date(2027, 3, 31),
                date(2027, 3, 1),
                100_000,
            ),
        ]

    async def test_activation_is_dated_at_the_property(self, db: AsyncSession) -> None:
        place = await make_organization(db)
        # 1 March 02:00 UTC is still 28 February in Los Angeles.
        lease = await make_lease(
            db,
            place,
            start=date(2024, 1, 1),
            activated_at=at(2027, 3, 1, 2),
            timezone="America/Los_Angeles",
        )

        await schedule.charge_rent(db, now=at(2027, 3, 2))

        assert [c.rent_period for c in await rent_charges(db, lease)] == [
            date(2027, 2, 1),
            date(2027, 3, 1),
        ]

    async def test_each_property_is_charged_by_its_own_date(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db, days_ahead=0)
        auckland = await make_lease(
            db, place, start=date(2027, 1, 1), timezone="Pacific/Auckland"
        )
        los_angeles = await make_lease(
            db, place, start=date(2027, 1, 1), timezone="America/Los_Angeles"
        )

        # 31 January 12:00 UTC: 1 February 01:00 in Auckland, 04:00 on the
        # 31st in Los Angeles.
        await schedule.charge_rent(db, now=at(2027, 1, 31, 12))

        assert [c.rent_period for c in await rent_charges(db, auckland)] == [
            date(2027, 1, 1),
            date(2027, 2, 1),
        ]
        assert [c.rent_period for c in await rent_charges(db, los_angeles)] == [
            date(2027, 1, 1),
        ]

    @pytest.mark.parametrize("status", ["draft", "ended", "terminated"])
    async def test_only_active_leases_are_charged(
        self, db: AsyncSession, status: str
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 1), status=status)

        await schedule.charge_rent(db, now=at(2027, 1, 1))

        assert await rent_charges(db, lease) == []

    async def test_a_rent_free_lease_gets_no_charge(self, db: AsyncSession) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 1), rent=0)

        await schedule.charge_rent(db, now=at(2027, 1, 1))

        assert await rent_charges(db, lease) == []

    async def test_a_given_date_stands_for_today_at_every_property(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db, days_ahead=0)
        lease = await make_lease(db, place, start=date(2027, 1, 1))

        await schedule.charge_rent(db, now=at(2027, 1, 1), on=date(2027, 3, 1))

        assert len(await rent_charges(db, lease)) == 3


class TestOncePerPeriod:
    async def test_running_twice_charges_each_period_once(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 1))
        now = at(2027, 2, 27)

        first = await schedule.charge_rent(db, now=now)
        second = await schedule.charge_rent(db, now=now)

        assert len(await rent_charges(db, lease)) == 3
        assert first.entries >= 3
        assert second.entries == 0

    async def test_a_voided_rent_charge_is_not_made_again(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 1))
        await schedule.charge_rent(db, now=at(2027, 1, 1))
        [january] = await rent_charges(db, lease)
        await service.reverse(db, place.owner, january.id, "Rent-free first month")

        await schedule.charge_rent(db, now=at(2027, 1, 2))

        assert [c.id for c in await rent_charges(db, lease)] == [january.id]
        assert await ledger.balance(db, lease.id) == 0

    async def test_each_charge_is_audited_as_the_systems(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 20))

        await schedule.charge_rent(db, now=at(2027, 1, 20))

        [charge] = await rent_charges(db, lease)
        [event] = await audit_of(db, charge.id)
        assert event.action == "ledger.rent_charged"
        assert event.actor_id is None
        assert event.organization_id == place.organization.id
        assert event.entity_type == "ledger_entry"
        assert event.changes["amount"] == {"from": None, "to": 38_710}
        assert event.changes["rent_period"] == {"from": None, "to": "2027-01-01"}
        assert event.changes["effective_on"] == {"from": None, "to": "2027-01-20"}


class TestMoneyWaiting:
    async def test_an_overpayment_pays_the_next_rent_charge(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        lease = await make_lease(db, place, start=date(2027, 1, 1), rent=100_000)
        await schedule.charge_rent(db, now=at(2027, 1, 1))
        await pay(db, place, lease, 150_000, date(2027, 1, 2))

        written = await schedule.charge_rent(db, now=at(2027, 1, 28))

        [_, february] = await rent_charges(db, lease)
        [open_february] = await ledger.open_charges(db, lease.id)
        assert open_february.id == february.id
        assert open_february.open == 50_000
        assert await ledger.available_funds(db, lease.id) == []
        assert await ledger.balance(db, lease.id) == 50_000
        assert written.allocated_leases >= 1

    async def test_only_leases_with_money_waiting_are_allocated(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db)
        funded = await make_lease(db, place, start=date(2027, 1, 1))
        unfunded = await make_lease(db, place, start=date(2027, 1, 1))
        await pay(db, place, funded, 30_000, date(2026, 12, 20))

        written = await schedule.charge_rent(db, now=at(2027, 1, 1))

        assert written.allocated_leases == 1
        assert [c.open for c in await ledger.open_charges(db, funded.id)] == [70_000]
        assert [c.open for c in await ledger.open_charges(db, unfunded.id)] == [100_000]
