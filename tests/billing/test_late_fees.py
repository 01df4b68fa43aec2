"""Late fees: after grace, flat or percent, once or daily, up to the cap.

Each lease here is in New York, rent due on the 1st and charged that day;
"day N" is N January 2027 at noon there.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import ledger, schedule, service
from asset_anchor.models import Lease
from tests.billing.schedule_support import (
    Place,
    at,
    audit_of,
    late_fees,
    make_lease,
    make_organization,
    pay,
    rent_charges,
)

FLAT_ONCE: dict[str, Any] = {"late_fee_kind": "flat", "late_fee_flat_amount": 5_000}
FLAT_DAILY: dict[str, Any] = {
    "late_fee_kind": "flat",
    "late_fee_flat_amount": 2_000,
    "late_fee_frequency": "daily",
}


def day(number: int, month: int = 1) -> Any:
    return at(2027, month, number, 12, zone="America/New_York")


async def charged_lease(
    db: AsyncSession, *, grace: int = 5, start: date = date(2027, 1, 1), **terms: Any
) -> tuple[Place, Lease]:
    place = await make_organization(db, days_ahead=0)
    lease = await make_lease(
        db, place, start=start, rent=100_000, late_fee_grace_days=grace, **terms
    )
    await schedule.charge_rent(db, now=day(start.day, start.month))
    return place, lease


def fees(entries: list[Any]) -> list[tuple[str | None, date, int]]:
    return [(fee.fee_key, fee.effective_on, fee.amount) for fee in entries]


class TestGrace:
    async def test_no_fee_while_the_grace_period_lasts(self, db: AsyncSession) -> None:
        _, lease = await charged_lease(db, grace=5, **FLAT_ONCE)

        await schedule.charge_late_fees(db, now=day(6))

        assert await late_fees(db, lease) == []

    async def test_the_fee_falls_on_the_day_after_the_grace_period(
        self, db: AsyncSession
    ) -> None:
        _, lease = await charged_lease(db, grace=5, **FLAT_ONCE)
        [rent] = await rent_charges(db, lease)

        await schedule.charge_late_fees(db, now=day(7))

        [fee] = await late_fees(db, lease)
        assert fees([fee]) == [("once", date(2027, 1, 7), 5_000)]
        assert fee.source_entry_id == rent.id
        assert await ledger.balance(db, lease.id) == 105_000

    async def test_grace_runs_from_the_day_a_late_made_charge_was_made(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db, days_ahead=0)
        # Onboarded on 20 January: January's rent, due on the 1st, is only
        # charged that day.
        lease = await make_lease(
            db,
            place,
            start=date(2025, 1, 1),
            activated_at=day(20),
            late_fee_grace_days=5,
            **FLAT_ONCE,
        )
        await schedule.charge_rent(db, now=day(20))

        await schedule.charge_late_fees(db, now=day(25))
        during_grace = await late_fees(db, lease)
        await schedule.charge_late_fees(db, now=day(26))

        assert during_grace == []
        assert fees(await late_fees(db, lease)) == [("once", date(2027, 1, 26), 5_000)]


class TestAmounts:
    async def test_a_percent_fee_is_of_the_rent_charged_rounded_half_up(
        self, db: AsyncSession
    ) -> None:
        # A move-in on the 20th: 12/31 of the rent, 38,710; 5 % is 1,935.5.
        _, lease = await charged_lease(
            db,
            grace=0,
            start=date(2027, 1, 20),
            late_fee_kind="percent",
            late_fee_percent_bps=500,
        )

        await schedule.charge_late_fees(db, now=day(21))

        assert fees(await late_fees(db, lease)) == [("once", date(2027, 1, 21), 1_936)]

    async def test_a_daily_fee_is_charged_for_each_day_past_grace(
        self, db: AsyncSession
    ) -> None:
        _, lease = await charged_lease(db, grace=2, **FLAT_DAILY)

        await schedule.charge_late_fees(db, now=day(4))
        await schedule.charge_late_fees(db, now=day(5))
        await schedule.charge_late_fees(db, now=day(6))

        assert fees(await late_fees(db, lease)) == [
            ("2027-01-04", date(2027, 1, 4), 2_000),
            ("2027-01-05", date(2027, 1, 5), 2_000),
            ("2027-01-06", date(2027, 1, 6), 2_000),
        ]

    async def test_missed_days_are_caught_up(self, db: AsyncSession) -> None:
        _, lease = await charged_lease(db, grace=2, **FLAT_DAILY)

        await schedule.charge_late_fees(db, now=day(6))

        assert [fee.fee_key for fee in await late_fees(db, lease)] == [
            "2027-01-04",
            "2027-01-05",
            "2027-01-06",
        ]

    async def test_a_once_fee_is_charged_once_however_late(
        self, db: AsyncSession
    ) -> None:
        _, lease = await charged_lease(db, grace=0, **FLAT_ONCE)

        for number in (2, 3, 10, 28):
            await schedule.charge_late_fees(db, now=day(number))

        assert fees(await late_fees(db, lease)) == [("once", date(2027, 1, 2), 5_000)]


class TestCap:
    async def test_the_last_fee_is_cut_to_fit_the_cap_then_none(
        self, db: AsyncSession
    ) -> None:
        _, lease = await charged_lease(
            db, grace=0, late_fee_cap_amount=5_000, **FLAT_DAILY
        )

        for number in (2, 3, 4, 5, 6):
            await schedule.charge_late_fees(db, now=day(number))

        assert [fee.amount for fee in await late_fees(db, lease)] == [
            2_000,
            2_000,
            1_000,
        ]

    async def test_the_cap_holds_when_days_are_caught_up_at_once(
        self, db: AsyncSession
    ) -> None:
        _, lease = await charged_lease(
            db, grace=0, late_fee_cap_amount=5_000, **FLAT_DAILY
        )
        await schedule.charge_late_fees(db, now=day(2))

        await schedule.charge_late_fees(db, now=day(9))

        assert fees(await late_fees(db, lease)) == [
            ("2027-01-02", date(2027, 1, 2), 2_000),
            ("2027-01-03", date(2027, 1, 3), 2_000),
            ("2027-01-04", date(2027, 1, 4), 1_000),
        ]

    async def test_a_once_fee_above_the_cap_is_cut_to_it(
        self, db: AsyncSession
    ) -> None:
        _, lease = await charged_lease(
            db, grace=0, late_fee_cap_amount=3_000, **FLAT_ONCE
        )

        await schedule.charge_late_fees(db, now=day(2))

        assert [fee.amount for fee in await late_fees(db, lease)] == [3_000]


class TestNoFee:
    async def test_a_paid_rent_charge_gets_none(self, db: AsyncSession) -> None:
        place, lease = await charged_lease(db, grace=0, **FLAT_DAILY)
        await pay(db, place, lease, 100_000, date(2027, 1, 1))

        await schedule.charge_late_fees(db, now=day(10))

        assert await late_fees(db, lease) == []

    async def test_a_part_paid_rent_charge_still_gets_one(
        self, db: AsyncSession
    ) -> None:
        place, lease = await charged_lease(db, grace=0, **FLAT_ONCE)
        await pay(db, place, lease, 99_999, date(2027, 1, 1))

        await schedule.charge_late_fees(db, now=day(2))

        assert len(await late_fees(db, lease)) == 1

    async def test_a_waiver_stops_further_fees(self, db: AsyncSession) -> None:
        place, lease = await charged_lease(db, grace=0, **FLAT_DAILY)
        await schedule.charge_late_fees(db, now=day(2))
        [first] = await late_fees(db, lease)
        await service.waive(db, place.owner, first.id, "First time late")

        await schedule.charge_late_fees(db, now=day(5))

        assert [fee.id for fee in await late_fees(db, lease)] == [first.id]
        assert await ledger.balance(db, lease.id) == 100_000

    async def test_a_reversed_waiver_lets_fees_resume(self, db: AsyncSession) -> None:
        place, lease = await charged_lease(db, grace=0, **FLAT_DAILY)
        await schedule.charge_late_fees(db, now=day(2))
        [first] = await late_fees(db, lease)
        waiver = await service.waive(db, place.owner, first.id, "Waived by mistake")
        await service.reverse(db, place.owner, waiver.id, "Not agreed after all")

        await schedule.charge_late_fees(db, now=day(3))

        assert [fee.fee_key for fee in await late_fees(db, lease)] == [
            "2027-01-02",
            "2027-01-03",
        ]

    async def test_a_voided_rent_charge_gets_none(self, db: AsyncSession) -> None:
        place, lease = await charged_lease(db, grace=0, **FLAT_ONCE)
        [rent] = await rent_charges(db, lease)
        await service.reverse(db, place.owner, rent.id, "Charged in error")

        await schedule.charge_late_fees(db, now=day(10))

        assert await late_fees(db, lease) == []

    async def test_a_voided_fee_is_not_charged_again(self, db: AsyncSession) -> None:
        place, lease = await charged_lease(db, grace=0, **FLAT_ONCE)
        await schedule.charge_late_fees(db, now=day(2))
        [fee] = await late_fees(db, lease)
        await service.reverse(db, place.owner, fee.id, "Paid on time by check")

        await schedule.charge_late_fees(db, now=day(3))

        assert [f.id for f in await late_fees(db, lease)] == [fee.id]
        assert await ledger.balance(db, lease.id) == 100_000

    async def test_a_lease_without_a_late_fee_gets_none(self, db: AsyncSession) -> None:
        _, lease = await charged_lease(db, grace=0)

        await schedule.charge_late_fees(db, now=day(10))

        assert await late_fees(db, lease) == []

    @pytest.mark.parametrize("status", ["ended", "terminated"])
    async def test_a_lease_that_is_over_gets_none(
        self, db: AsyncSession, status: str
    ) -> None:
        _, lease = await charged_lease(db, grace=0, **FLAT_ONCE)
        await db.execute(
            update(Lease).where(Lease.id == lease.id).values(status=status)
        )

        await schedule.charge_late_fees(db, now=day(10))

        assert await late_fees(db, lease) == []


class TestOncePerKey:
    async def test_running_twice_changes_nothing(self, db: AsyncSession) -> None:
        _, once = await charged_lease(db, grace=0, **FLAT_ONCE)
        _, daily = await charged_lease(db, grace=0, **FLAT_DAILY)
        await schedule.charge_late_fees(db, now=day(4))
        before = fees(await late_fees(db, once)), fees(await late_fees(db, daily))

        second = await schedule.charge_late_fees(db, now=day(4))

        after = fees(await late_fees(db, once)), fees(await late_fees(db, daily))
        assert second.entries == 0
        assert after == before
        assert (len(before[0]), len(before[1])) == (1, 3)

    async def test_each_fee_is_audited_as_the_systems(self, db: AsyncSession) -> None:
        _, lease = await charged_lease(db, grace=0, **FLAT_ONCE)
        [rent] = await rent_charges(db, lease)

        await schedule.charge_late_fees(db, now=day(2))

        [fee] = await late_fees(db, lease)
        [event] = await audit_of(db, fee.id)
        assert event.action == "ledger.late_fee_charged"
        assert event.actor_id is None
        assert event.changes["amount"] == {"from": None, "to": 5_000}
        assert event.changes["fee_key"] == {"from": None, "to": "once"}
        assert event.changes["source_entry_id"] == {"from": None, "to": str(rent.id)}
