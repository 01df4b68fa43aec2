"""Rent reminders and monthly statements: when, to whom, once, and what."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.billing import mailings, schedule
from asset_anchor.email.templates import RenderedEmail, render_email
from asset_anchor.models import BillingNotice, Email, Lease
from asset_anchor.settings import Settings
from tests.billing.schedule_support import (
    Place,
    at,
    make_lease,
    make_organization,
    pay,
    rent_charges,
)

NEW_YORK = "America/New_York"
TENANTS = (
    ("Dana Tenant", "dana@example.test"),
    ("Sam Tenant", "SAM@example.test"),
    ("No Address", None),
)


def ny(month: int, day: int, hour: int = 12, year: int = 2027) -> Any:
    return at(year, month, day, hour, zone=NEW_YORK)


async def emails_of(db: AsyncSession, lease: Lease, kind: str) -> list[Email]:
    found = await db.scalars(
        select(Email)
        .where(Email.kind == kind, Email.context["lease_id"].astext == str(lease.id))
        .order_by(Email.to_address)
    )
    return list(found)


async def occasions(db: AsyncSession, lease: Lease) -> list[tuple[str, str]]:
    """The lease's reminder and statement notices (receipts left out)."""
    rows = await db.execute(
        select(BillingNotice.occasion, BillingNotice.recipient)
        .where(
            BillingNotice.lease_id == lease.id,
            ~BillingNotice.occasion.startswith("receipt:"),
        )
        .order_by(BillingNotice.occasion, BillingNotice.recipient)
    )
    return [(row.occasion, row.recipient) for row in rows]


def rendered(settings: Settings, email: Email) -> RenderedEmail:
    """The email the worker would send, from the queued context."""
    return render_email(
        email.kind,
        settings=settings,
        recipient_name=email.to_name,
        context=email.context,
    )


class TestReminders:
    @pytest.fixture
    async def place(self, db: AsyncSession) -> Place:
        return await make_organization(db, days_ahead=7, reminder_days=3)

    async def lease_due_on_the_10th(
        self, db: AsyncSession, place: Place, **overrides: Any
    ) -> Lease:
        values: dict[str, Any] = {
            "start": date(2027, 2, 1),
            "due_day": 10,
            "rent": 100_000,
            "tenants": TENANTS,
            "timezone": NEW_YORK,
        }
        lease = await make_lease(db, place, **(values | overrides))
        await schedule.charge_rent(db, now=ny(2, 3))
        return lease

    async def test_days_before_the_due_date_each_tenant_is_reminded_once(
        self, db: AsyncSession, place: Place, settings: Settings
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)
        [rent] = await rent_charges(db, lease)

        first = await mailings.send_reminders(db, now=ny(2, 7))
        second = await mailings.send_reminders(db, now=ny(2, 7, 18))

        sent = await emails_of(db, lease, "rent_reminder")
        assert (first, second) == (2, 0)
        assert [email.to_address for email in sent] == [
            "SAM@example.test",
            "dana@example.test",
        ]
        assert await occasions(db, lease) == [
            (f"reminder:{rent.id}:before", "dana@example.test"),
            (f"reminder:{rent.id}:before", "sam@example.test"),
        ]
        assert sent[1].context["days_left"] == 3
        assert sent[1].context["due_today"] is False
        body = rendered(settings, sent[1]).text_body
        assert "Hi Dana Tenant," in body
        assert "is due on 10 February 2027, in 3 days: 1,000.00 USD" in body
        assert f"/leases/{lease.id}" in body

    async def test_not_sooner_than_the_days_before(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)

        sent = await mailings.send_reminders(db, now=ny(2, 6))

        assert sent == 0
        assert await emails_of(db, lease, "rent_reminder") == []

    async def test_on_the_due_date_a_second_reminder_goes(
        self, db: AsyncSession, place: Place, settings: Settings
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)
        [rent] = await rent_charges(db, lease)
        await mailings.send_reminders(db, now=ny(2, 7))

        await mailings.send_reminders(db, now=ny(2, 10))
        await mailings.send_reminders(db, now=ny(2, 10, 20))

        assert [occasion for occasion, _ in await occasions(db, lease)] == [
            f"reminder:{rent.id}:before",
            f"reminder:{rent.id}:before",
            f"reminder:{rent.id}:due",
            f"reminder:{rent.id}:due",
        ]
        due = [
            email
            for email in await emails_of(db, lease, "rent_reminder")
            if email.context["due_today"]
        ]
        assert len(due) == 2
        assert "is due today: 1,000.00 USD" in rendered(settings, due[0]).text_body

    async def test_the_reminder_names_what_is_still_open(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)
        await pay(db, place, lease, 40_000, date(2027, 2, 4))

        await mailings.send_reminders(db, now=ny(2, 8))

        amounts = {
            e.context["amount"] for e in await emails_of(db, lease, "rent_reminder")
        }
        assert amounts == {"600.00 USD"}

    async def test_a_paid_charge_gets_no_reminder(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)
        await pay(db, place, lease, 100_000, date(2027, 2, 4))

        await mailings.send_reminders(db, now=ny(2, 8))
        await mailings.send_reminders(db, now=ny(2, 10))

        assert await emails_of(db, lease, "rent_reminder") == []

    async def test_none_in_the_night_at_the_property(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)

        at_seven = await mailings.send_reminders(db, now=ny(2, 10, 7))
        at_eight = await mailings.send_reminders(db, now=ny(2, 10, 8))

        assert (at_seven, at_eight) == (0, 2)
        assert len(await emails_of(db, lease, "rent_reminder")) == 2

    async def test_with_no_days_before_only_the_due_date_reminder_goes(
        self, db: AsyncSession
    ) -> None:
        place = await make_organization(db, days_ahead=7, reminder_days=0)
        lease = await self.lease_due_on_the_10th(db, place)

        for day in (3, 5, 7, 9):
            await mailings.send_reminders(db, now=ny(2, day))
        on_the_day = await mailings.send_reminders(db, now=ny(2, 10))

        assert on_the_day == 2
        assert all(o.endswith(":due") for o, _ in await occasions(db, lease))

    async def test_a_lease_that_is_over_gets_none(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place)
        await db.execute(
            update(Lease).where(Lease.id == lease.id).values(status="terminated")
        )

        await mailings.send_reminders(db, now=ny(2, 10))

        assert await emails_of(db, lease, "rent_reminder") == []

    async def test_tenants_without_an_address_are_passed_over(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.lease_due_on_the_10th(db, place, tenants=(("Jo", None),))

        found = await mailings.due_reminders(db, now=ny(2, 10))

        assert [r for r in found if r.lease_id == lease.id] == []


class TestStatements:
    @pytest.fixture
    async def place(self, db: AsyncSession) -> Place:
        return await make_organization(db, days_ahead=0)

    async def january(
        self,
        db: AsyncSession,
        place: Place,
        *,
        paid: int = 60_000,
        status: str = "active",
        **overrides: Any,
    ) -> Lease:
        """January rent of 1,000.00 charged on the 1st, ``paid`` on the 15th,
        February's charged on 1 February (if the lease runs on), and then the
        lease put in ``status``."""
        values: dict[str, Any] = {
            "start": date(2027, 1, 1),
            "tenants": TENANTS[:1],
            "timezone": NEW_YORK,
        }
        lease = await make_lease(db, place, **(values | overrides))
        await schedule.charge_rent(db, now=ny(1, 1))
        if paid:
            await pay(db, place, lease, paid, date(2027, 1, 15))
        await schedule.charge_rent(db, now=ny(2, 1, 1))
        await db.execute(
            update(Lease).where(Lease.id == lease.id).values(status=status)
        )
        return lease

    async def test_the_month_just_ended_is_summed_and_sent_once(
        self, db: AsyncSession, place: Place, settings: Settings
    ) -> None:
        lease = await self.january(db, place)

        first = await mailings.send_statements(db, now=ny(2, 1, 9))
        second = await mailings.send_statements(db, now=ny(2, 1, 10))

        [email] = await emails_of(db, lease, "monthly_statement")
        assert (first, second) == (1, 0)
        assert await occasions(db, lease) == [
            ("statement:2027-01", "dana@example.test")
        ]
        assert email.context | {"lease_id": "…"} == {
            "lease_id": "…",
            "month": "January 2027",
            "opening_balance": "0.00 USD",
            "charges": "1,000.00 USD",
            "payments": "600.00 USD",
            "closing_balance": "400.00 USD",
            "in_credit": False,
            "settled": False,
            "organization_name": "Riley Homes",
            "property_name": "Birch House",
            "unit_label": email.context["unit_label"],
        }
        shown = rendered(settings, email)
        assert shown.subject == "Your January 2027 statement from Riley Homes"
        assert "Closing balance:       400.00 USD" in shown.text_body
        assert f"{settings.frontend_url}/leases/{lease.id}" in shown.text_body

    async def test_the_opening_balance_carries_earlier_months(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.january(db, place)
        await schedule.charge_rent(db, now=ny(3, 1, 1))

        await mailings.send_statements(db, now=ny(3, 1, 9))

        [email] = await emails_of(db, lease, "monthly_statement")
        assert email.context["month"] == "February 2027"
        assert email.context["opening_balance"] == "400.00 USD"
        assert email.context["charges"] == "1,000.00 USD"
        assert email.context["payments"] == "0.00 USD"
        assert email.context["closing_balance"] == "1,400.00 USD"

    async def test_a_credit_balance_is_shown_as_credit(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.january(db, place, paid=150_000)

        await mailings.send_statements(db, now=ny(2, 1, 9))

        [email] = await emails_of(db, lease, "monthly_statement")
        assert email.context["closing_balance"] == "500.00 USD in credit"
        assert email.context["in_credit"] is True

    async def test_a_quiet_month_with_nothing_owed_gets_no_statement(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.january(
            db, place, paid=100_000, end=date(2027, 1, 31), status="ended"
        )

        await mailings.send_statements(db, now=ny(2, 1, 9))
        await mailings.send_statements(db, now=ny(3, 1, 9))

        assert [o for o, _ in await occasions(db, lease)] == ["statement:2027-01"]

    async def test_a_quiet_month_with_money_owed_gets_one(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.january(
            db, place, paid=0, end=date(2027, 1, 31), status="ended"
        )

        await mailings.send_statements(db, now=ny(3, 1, 9))

        [email] = await emails_of(db, lease, "monthly_statement")
        assert email.context["month"] == "February 2027"
        assert email.context["opening_balance"] == "1,000.00 USD"
        assert email.context["charges"] == "0.00 USD"
        assert email.context["closing_balance"] == "1,000.00 USD"

    async def test_none_before_the_morning_of_the_first(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.january(db, place)

        sent = await mailings.send_statements(db, now=ny(2, 1, 7))

        assert sent == 0
        assert await emails_of(db, lease, "monthly_statement") == []

    async def test_a_statement_missed_on_the_first_goes_within_the_week(
        self, db: AsyncSession, place: Place
    ) -> None:
        lease = await self.january(db, place)

        too_late = await mailings.due_statements(db, now=ny(2, 8, 9))
        in_time = await mailings.due_statements(db, now=ny(2, 7, 9))

        assert [s for s in too_late if s.lease_id == lease.id] == []
        assert [s.occasion for s in in_time if s.lease_id == lease.id] == [
            "statement:2027-01"
        ]
