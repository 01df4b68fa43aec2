"""Date arithmetic of a lease's terms; pure functions, no database, no clock.

Rent falls due on the lease's ``due_day`` of each month, or on the month's
last day in a month too short for it (31 → 30 April, 28 or 29 February).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Only these have a rent to come: an ended or terminated lease has none.
_OPEN_STATUSES = frozenset({"draft", "active"})


def due_date(year: int, month: int, due_day: int) -> date:
    """The day rent is due in a month: ``due_day``, or the month's last day."""
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(due_day, last))


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def next_due_on(
    *, on_or_after: date, start_date: date, end_date: date | None, due_day: int
) -> date | None:
    """The first due date on or after ``on_or_after`` within the lease's dates.

    None when the lease ends before rent falls due again.
    """
    first = max(on_or_after, start_date)
    candidate = due_date(first.year, first.month, due_day)
    if candidate < first:
        candidate = due_date(*_month_after(first.year, first.month), due_day)
    if end_date is not None and candidate > end_date:
        return None
    return candidate


def local_today(timezone: str, now: datetime) -> date:
    """The date at the property at the instant ``now`` (aware)."""
    return now.astimezone(ZoneInfo(timezone)).date()


def next_rent_due_on(
    *,
    status: str,
    start_date: date,
    end_date: date | None,
    due_day: int,
    today: date,
) -> date | None:
    """The next due date of a draft or active lease; None for one that is over."""
    if status not in _OPEN_STATUSES:
        return None
    return next_due_on(
        on_or_after=today, start_date=start_date, end_date=end_date, due_day=due_day
    )


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day if it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return due_date(year, month + 1, day.day)


def renewal_end(start_date: date, end_date: date, renewal_start: date) -> date:
    """The last day of a renewal as long as the term it follows.

    A term of whole months (1 January to 31 December) renews for as many whole
    months; any other term for the same number of days.
    """
    day_after = end_date + timedelta(days=1)
    months = (day_after.year - start_date.year) * 12 + (
        day_after.month - start_date.month
    )
    if months > 0 and add_months(start_date, months) == day_after:
        return add_months(renewal_start, months) - timedelta(days=1)
    return renewal_start + (end_date - start_date)
