"""The life of a lease: draft → active → ended | terminated, and renewals.

Each step locks the lease's row first, so its status is read and changed by
one request at a time. Starting a lease (activating it, or drafting its
renewal) then takes the unit's lock through ``properties.service``; every path
takes the lease before the unit, so they cannot deadlock. Under the unit's
lock the check for an overlapping active lease sees every activation that
committed before it: that is what keeps a unit's active leases apart, since
no database constraint can (see ``Lease``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.db import flush_or_conflict
from asset_anchor.kit.time import utc_now
from asset_anchor.leases import terms
from asset_anchor.leases.errors import (
    EndedOnRequired,
    LeaseAlreadyRenewed,
    LeaseDatesInvalid,
    LeaseEndsEarly,
    LeaseNotActive,
    LeaseNotRenewable,
    LeaseOverlap,
    RenewalStartsTooEarly,
)
from asset_anchor.leases.schemas import LateFee, LeaseOut
from asset_anchor.leases.service import (
    check_dates,
    check_late_fee,
    created_with_tenants,
    late_fee_columns,
    late_fee_of,
    lock_lease,
    new_tenant,
    read_lease,
    require_draft,
)
from asset_anchor.models import Lease, LeaseTenant
from asset_anchor.organizations.scope import StaffScope, owned_columns
from asset_anchor.properties.service import unit_for_lease

_RENEWABLE = frozenset({"active", "ended"})
# Terms a renewal copies from the lease it follows unless the caller sets them.
_COPIED_TERMS = ("rent_amount", "currency", "due_day", "security_deposit_amount")
_ALREADY_RENEWED = {"uq_leases_renewed_from_id": LeaseAlreadyRenewed}


def _require_active(lease: Lease, doing: str) -> None:
    if lease.status != "active":
        raise LeaseNotActive(
            f"Only an active lease can be {doing}; this one is {lease.status}."
        )


async def _overlapping_active_lease(
    session: AsyncSession, scope: StaffScope, lease: Lease
) -> uuid.UUID | None:
    """An active lease of the same unit sharing a day with ``lease``, if any."""
    statement = owned_columns(scope, Lease, Lease.id).where(
        Lease.unit_id == lease.unit_id,
        Lease.status == "active",
        Lease.id != lease.id,
        or_(Lease.end_date.is_(None), Lease.end_date >= lease.start_date),
    )
    if lease.end_date is not None:
        statement = statement.where(Lease.start_date <= lease.end_date)
    found: uuid.UUID | None = await session.scalar(
        statement.order_by(Lease.start_date, Lease.id).limit(1)
    )
    return found


async def _transition(
    session: AsyncSession,
    scope: StaffScope,
    lease: Lease,
    action: str,
    values: Mapping[str, Any],
) -> LeaseOut:
    changes = audit.apply_changes(lease, values)
    await session.flush()
    audit.by_staff(session, scope, action, lease.id, changes)
    return await read_lease(session, scope, lease.id)


async def activate(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> LeaseOut:
    """Start a draft, unless another active lease of its unit overlaps it."""
    lease = await lock_lease(session, scope, lease_id)
    require_draft(lease, "activated")
    await unit_for_lease(session, scope, lease.unit_id)
    conflicting = await _overlapping_active_lease(session, scope, lease)
    if conflicting is not None:
        raise LeaseOverlap(
            "End or terminate the unit's other active lease first, or change "
            "this draft's dates.",
            conflicting_lease_id=str(conflicting),
        )
    return await _transition(
        session,
        scope,
        lease,
        "lease.activated",
        {"status": "active", "activated_at": utc_now()},
    )


async def end(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    ended_on: date | None,
) -> LeaseOut:
    """End an active lease at its term, or a month-to-month one on a given day.

    A fixed-term lease ends on its end date or later (the tenants may stay on
    a few days); ending it sooner is a termination.
    """
    lease = await lock_lease(session, scope, lease_id)
    _require_active(lease, "ended")
    last_day = ended_on or lease.end_date
    if last_day is None:
        raise EndedOnRequired
    if last_day < lease.start_date:
        raise LeaseDatesInvalid("A lease cannot end before it starts.")
    if lease.end_date is not None and last_day < lease.end_date:
        raise LeaseEndsEarly(end_date=lease.end_date.isoformat())
    return await _transition(
        session,
        scope,
        lease,
        "lease.ended",
        {"status": "ended", "ended_on": last_day, "ended_at": utc_now()},
    )


async def terminate(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    ended_on: date,
    reason: str,
) -> LeaseOut:
    """End an active lease early, saying why."""
    lease = await lock_lease(session, scope, lease_id)
    _require_active(lease, "terminated")
    if ended_on < lease.start_date:
        raise LeaseDatesInvalid("A lease cannot end before it starts.")
    return await _transition(
        session,
        scope,
        lease,
        "lease.terminated",
        {
            "status": "terminated",
            "ended_on": ended_on,
            "ended_at": utc_now(),
            "termination_reason": reason,
        },
    )


async def _renewed_by(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        owned_columns(scope, Lease, Lease.id).where(Lease.renewed_from_id == lease_id)
    )
    return found


def _renewal_dates(lease: Lease, values: Mapping[str, Any]) -> tuple[date, date | None]:
    assert lease.end_date is not None
    start_date: date = values.get("start_date") or lease.end_date + timedelta(days=1)
    if start_date <= lease.end_date:
        raise RenewalStartsTooEarly(
            f"Start the renewal after {lease.end_date.isoformat()}."
        )
    if "end_date" in values:
        end_date: date | None = values["end_date"]
    else:
        end_date = terms.renewal_end(lease.start_date, lease.end_date, start_date)
    check_dates(start_date, end_date)
    return start_date, end_date


async def renew(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    values: Mapping[str, Any],
) -> LeaseOut:
    """Draft the lease that follows a fixed-term one, with the same tenants.

    Terms the caller leaves out are copied; a lease is renewed at most once.
    """
    lease = await lock_lease(session, scope, lease_id)
    if lease.status not in _RENEWABLE:
        raise LeaseNotRenewable(f"This lease is {lease.status}.")
    if lease.end_date is None:
        raise LeaseNotRenewable("A month-to-month lease simply goes on.")
    renewed_by = await _renewed_by(session, scope, lease.id)
    if renewed_by is not None:
        raise LeaseAlreadyRenewed(renewed_by_id=str(renewed_by))
    start_date, end_date = _renewal_dates(lease, values)
    policy = (
        LateFee.model_validate(values["late_fee"])
        if values.get("late_fee") is not None
        else late_fee_of(lease)
    )
    check_late_fee(policy)
    unit, _ = await unit_for_lease(session, scope, lease.unit_id)

    successor = Lease(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        unit_id=unit.id,
        property_id=unit.property_id,
        status="draft",
        start_date=start_date,
        end_date=end_date,
        renewed_from_id=lease.id,
        created_by_id=scope.user_id,
        **{field: values.get(field, getattr(lease, field)) for field in _COPIED_TERMS},
        **late_fee_columns(policy),
    )
    session.add(successor)
    await flush_or_conflict(session, _ALREADY_RENEWED)
    tenants = [
        new_tenant(
            scope,
            successor.id,
            full_name=one.full_name,
            email=one.email,
            phone=one.phone,
            user_id=one.user_id,
        )
        for one in await session.execute(
            owned_columns(
                scope,
                LeaseTenant,
                LeaseTenant.full_name,
                LeaseTenant.email,
                LeaseTenant.phone,
                LeaseTenant.user_id,
            )
            .where(LeaseTenant.lease_id == lease.id)
            .order_by(LeaseTenant.created_at, LeaseTenant.full_name, LeaseTenant.id)
        )
    ]
    session.add_all(tenants)
    await session.flush()

    audit.by_staff(
        session,
        scope,
        "lease.renewed",
        lease.id,
        {"renewed_by_id": {"from": None, "to": audit.json_value(successor.id)}},
    )
    audit.by_staff(
        session,
        scope,
        "lease.created",
        successor.id,
        created_with_tenants(successor, tenants),
    )
    return await read_lease(session, scope, successor.id)
