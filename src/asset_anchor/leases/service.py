"""Leases and their tenants: reads, drafts, and who is on a lease.

Everything here reaches rows through ``organizations.scope`` and flushes; the
request commits. Every write is audited. A lease's terms change only while it
is a draft; what happens to it after that (activate, end, terminate, renew)
is in ``leases.transitions``. Each write first locks the lease's row, so that
two requests changing one lease are answered one after the other.

Inputs are checked before anything is changed: a refused request leaves the
session's objects as they were.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import any_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from asset_anchor.audit import service as audit
from asset_anchor.db import uuid_array
from asset_anchor.kit.pagination import Order, SortColumn, Sorting, contains, cut_page
from asset_anchor.kit.pagination import paginate as keyset
from asset_anchor.kit.time import utc_now
from asset_anchor.leases import terms
from asset_anchor.leases.errors import (
    LateFeeInvalid,
    LeaseClosed,
    LeaseDatesInvalid,
    LeaseNeedsATenant,
    LeaseNotDraft,
    LeaseNotFound,
    LeaseTenantLimit,
    LeaseTenantNotFound,
)
from asset_anchor.leases.schemas import (
    MAX_TENANTS,
    LateFee,
    LeaseIn,
    LeaseOut,
    LeaseProperty,
    LeasePropertyDetail,
    LeaseSummary,
    LeaseTenantOut,
    LeaseUnit,
    TenantIn,
    TenantName,
)
from asset_anchor.models import Lease, LeaseTenant, Organization, Property, Unit
from asset_anchor.organizations.scope import (
    StaffScope,
    get_owned,
    owned,
    owned_columns,
)
from asset_anchor.properties.service import unit_for_lease

LEASE_SORTING = Sorting(
    columns={
        "start_date": SortColumn(Lease.start_date, "date"),
        "created_at": SortColumn(Lease.created_at, "datetime"),
        "rent_amount": SortColumn(Lease.rent_amount, "integer"),
    },
    default="start_date",
    id_column=Lease.id,
)
# The late fee's API fields and the columns that keep them.
_LATE_FEE_COLUMNS = {
    "grace_days": "late_fee_grace_days",
    "kind": "late_fee_kind",
    "flat_amount": "late_fee_flat_amount",
    "percent_bps": "late_fee_percent_bps",
    "frequency": "late_fee_frequency",
    "cap_amount": "late_fee_cap_amount",
}
LEASE_FIELDS = (
    "unit_id",
    "property_id",
    "status",
    "start_date",
    "end_date",
    "rent_amount",
    "currency",
    "due_day",
    "security_deposit_amount",
    *_LATE_FEE_COLUMNS.values(),
    "notes",
    "renewed_from_id",
)
TENANT_FIELDS = ("lease_id", "full_name", "email", "phone")
_CLOSED = frozenset({"ended", "terminated"})


# --- terms ------------------------------------------------------------------


def late_fee_columns(policy: LateFee) -> dict[str, Any]:
    return {
        column: getattr(policy, field) for field, column in _LATE_FEE_COLUMNS.items()
    }


def late_fee_of(source: Any) -> LateFee:
    """The late fee of a lease (an object or a row with the lease's columns)."""
    return LateFee(
        **{
            field: getattr(source, column)
            for field, column in _LATE_FEE_COLUMNS.items()
        }
    )


def check_dates(start_date: date, end_date: date | None) -> None:
    if end_date is not None and end_date < start_date:
        raise LeaseDatesInvalid("The end date is before the start date.")


def check_late_fee(policy: LateFee) -> None:
    """The amount fields present are exactly the ones the kind uses."""
    if (policy.kind == "flat") != (policy.flat_amount is not None):
        raise LateFeeInvalid("Give flat_amount with kind flat, and only then.")
    if (policy.kind == "percent") != (policy.percent_bps is not None):
        raise LateFeeInvalid("Give percent_bps with kind percent, and only then.")


async def default_currency(session: AsyncSession, scope: StaffScope) -> str:
    currency: str | None = await session.scalar(
        select(Organization.default_currency).where(
            Organization.id == scope.organization_id
        )
    )
    assert currency is not None
    return currency


# --- reading ----------------------------------------------------------------


_SUMMARY_COLUMNS = (
    Lease.id,
    Lease.status,
    Lease.unit_id,
    Unit.label.label("unit_label"),
    Lease.property_id,
    Property.name.label("property_name"),
    Lease.start_date,
    Lease.end_date,
    Lease.rent_amount,
    Lease.currency,
    Lease.due_day,
    Lease.created_at,
)


def _successor_id() -> Any:
    successor = aliased(Lease)
    return (
        select(successor.id)
        .where(successor.renewed_from_id == Lease.id)
        .correlate(Lease)
        .scalar_subquery()
    )


_DETAIL_COLUMNS = (
    *_SUMMARY_COLUMNS,
    Property.timezone.label("property_timezone"),
    Lease.security_deposit_amount,
    *(getattr(Lease, column) for column in _LATE_FEE_COLUMNS.values()),
    Lease.notes,
    Lease.renewed_from_id,
    _successor_id().label("renewed_by_id"),
    Lease.activated_at,
    Lease.ended_on,
    Lease.ended_at,
    Lease.termination_reason,
)


def _leases_with_places(scope: StaffScope, *columns: Any) -> Any:
    return (
        owned_columns(scope, Lease, *columns)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Property, Property.id == Lease.property_id)
    )


async def _tenants_of(
    session: AsyncSession,
    scope: StaffScope,
    lease_ids: Sequence[uuid.UUID],
    *columns: Any,
) -> dict[uuid.UUID, list[Any]]:
    """The tenants of several leases in one statement, by lease id."""
    found: dict[uuid.UUID, list[Any]] = {lease_id: [] for lease_id in lease_ids}
    if not lease_ids:
        return found
    rows = await session.execute(
        owned_columns(scope, LeaseTenant, LeaseTenant.lease_id, *columns)
        .where(LeaseTenant.lease_id == any_(uuid_array(lease_ids)))
        .order_by(LeaseTenant.created_at, LeaseTenant.full_name, LeaseTenant.id)
    )
    for row in rows:
        found[row.lease_id].append(row)
    return found


def _summary(row: Any, tenants: Iterable[Any]) -> LeaseSummary:
    return LeaseSummary(
        id=row.id,
        status=row.status,
        unit=LeaseUnit(id=row.unit_id, label=row.unit_label),
        property=LeaseProperty(id=row.property_id, name=row.property_name),
        tenants=[TenantName(id=t.id, full_name=t.full_name) for t in tenants],
        start_date=row.start_date,
        end_date=row.end_date,
        rent_amount=row.rent_amount,
        currency=row.currency,
        due_day=row.due_day,
        created_at=row.created_at,
    )


async def list_leases(
    session: AsyncSession,
    scope: StaffScope,
    *,
    order: Order,
    statuses: Sequence[str],
    property_id: uuid.UUID | None,
    unit_id: uuid.UUID | None,
    search: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[LeaseSummary], str | None]:
    """One page of the organization's leases: two statements, whatever the size."""
    statement = _leases_with_places(scope, *_SUMMARY_COLUMNS)
    if statuses:
        statement = statement.where(Lease.status.in_(statuses))
    if property_id is not None:
        statement = statement.where(Lease.property_id == property_id)
    if unit_id is not None:
        statement = statement.where(Lease.unit_id == unit_id)
    if search is not None:
        pattern = contains(search)
        named = exists().where(
            LeaseTenant.lease_id == Lease.id, LeaseTenant.full_name.ilike(pattern)
        )
        statement = statement.where(
            or_(Unit.label.ilike(pattern), Property.name.ilike(pattern), named)
        )
    rows = (await session.execute(keyset(statement, order, cursor, limit))).all()
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (getattr(row, order.name), row.id)
    )
    tenants = await _tenants_of(
        session, scope, [row.id for row in page], LeaseTenant.id, LeaseTenant.full_name
    )
    return [_summary(row, tenants[row.id]) for row in page], next_cursor


def _tenant_out(tenant: Any) -> LeaseTenantOut:
    return LeaseTenantOut(
        id=tenant.id,
        full_name=tenant.full_name,
        email=tenant.email,
        phone=tenant.phone,
        has_account=tenant.user_id is not None,
    )


async def read_lease(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> LeaseOut:
    """A lease in full, with its tenants and the next day rent is due."""
    row = (
        await session.execute(
            _leases_with_places(scope, *_DETAIL_COLUMNS).where(Lease.id == lease_id)
        )
    ).first()
    if row is None:
        raise LeaseNotFound
    tenants = await _tenants_of(
        session,
        scope,
        [row.id],
        LeaseTenant.id,
        LeaseTenant.full_name,
        LeaseTenant.email,
        LeaseTenant.phone,
        LeaseTenant.user_id,
    )
    today = terms.local_today(row.property_timezone, utc_now())
    return LeaseOut(
        id=row.id,
        status=row.status,
        unit=LeaseUnit(id=row.unit_id, label=row.unit_label),
        property=LeasePropertyDetail(
            id=row.property_id, name=row.property_name, timezone=row.property_timezone
        ),
        tenants=[_tenant_out(tenant) for tenant in tenants[row.id]],
        start_date=row.start_date,
        end_date=row.end_date,
        rent_amount=row.rent_amount,
        currency=row.currency,
        due_day=row.due_day,
        security_deposit_amount=row.security_deposit_amount,
        late_fee=late_fee_of(row),
        notes=row.notes,
        next_rent_due_on=terms.next_rent_due_on(
            status=row.status,
            start_date=row.start_date,
            end_date=row.end_date,
            due_day=row.due_day,
            today=today,
        ),
        renewed_from_id=row.renewed_from_id,
        renewed_by_id=row.renewed_by_id,
        activated_at=row.activated_at,
        ended_on=row.ended_on,
        ended_at=row.ended_at,
        termination_reason=row.termination_reason,
        created_at=row.created_at,
    )


# --- writing ----------------------------------------------------------------


async def lock_lease(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> Lease:
    """The caller's lease, its row locked until the request ends."""
    return await get_owned(session, scope, Lease, lease_id, LeaseNotFound, lock=True)


def require_draft(lease: Lease, doing: str) -> None:
    if lease.status != "draft":
        raise LeaseNotDraft(
            f"Only a draft lease can be {doing}; this one is {lease.status}."
        )


def new_tenant(
    scope: StaffScope,
    lease_id: uuid.UUID,
    *,
    full_name: str,
    email: str | None,
    phone: str | None,
    user_id: uuid.UUID | None = None,
) -> LeaseTenant:
    return LeaseTenant(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        lease_id=lease_id,
        full_name=full_name,
        email=email,
        phone=phone,
        user_id=user_id,
    )


def created_with_tenants(lease: Lease, tenants: Sequence[LeaseTenant]) -> audit.Changes:
    """A new lease's audit changes: its terms and who is on it."""
    return {
        **audit.created(lease, LEASE_FIELDS),
        "tenants": {"from": None, "to": [tenant.full_name for tenant in tenants]},
    }


async def create_lease(
    session: AsyncSession, scope: StaffScope, body: LeaseIn
) -> LeaseOut:
    """A draft lease on a unit in use, with its tenants."""
    check_dates(body.start_date, body.end_date)
    check_late_fee(body.late_fee)
    unit, _ = await unit_for_lease(session, scope, body.unit_id)
    lease = Lease(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        unit_id=unit.id,
        property_id=unit.property_id,
        status="draft",
        start_date=body.start_date,
        end_date=body.end_date,
        rent_amount=body.rent_amount,
        currency=body.currency or await default_currency(session, scope),
        due_day=body.due_day,
        security_deposit_amount=body.security_deposit_amount,
        notes=body.notes,
        created_by_id=scope.user_id,
        **late_fee_columns(body.late_fee),
    )
    session.add(lease)
    # The lease first: nothing tells the unit of work that tenants need it.
    await session.flush()
    tenants = [
        new_tenant(
            scope, lease.id, full_name=one.full_name, email=one.email, phone=one.phone
        )
        for one in body.tenants
    ]
    session.add_all(tenants)
    await session.flush()
    audit.by_staff(
        session, scope, "lease.created", lease.id, created_with_tenants(lease, tenants)
    )
    return await read_lease(session, scope, lease.id)


async def update_lease(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    values: Mapping[str, Any],
) -> LeaseOut:
    """Apply the fields the caller sent to a draft; the late fee as a whole."""
    lease = await lock_lease(session, scope, lease_id)
    require_draft(lease, "changed")
    columns = {field: value for field, value in values.items() if field != "late_fee"}
    if values.get("late_fee") is not None:
        policy = LateFee.model_validate(values["late_fee"])
        check_late_fee(policy)
        columns.update(late_fee_columns(policy))
    check_dates(
        columns.get("start_date", lease.start_date),
        columns.get("end_date", lease.end_date),
    )
    changes = audit.apply_changes(lease, columns)
    if changes:
        await session.flush()
        audit.by_staff(session, scope, "lease.updated", lease.id, changes)
    return await read_lease(session, scope, lease.id)


async def delete_lease(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> None:
    """Delete a draft made by mistake; its tenants go with it."""
    lease = await lock_lease(session, scope, lease_id)
    require_draft(lease, "deleted")
    audit.by_staff(
        session,
        scope,
        "lease.deleted",
        lease.id,
        {
            "unit_id": {"from": audit.json_value(lease.unit_id)},
            "start_date": {"from": audit.json_value(lease.start_date)},
        },
    )
    await session.delete(lease)
    await session.flush()


# --- tenants of a lease -----------------------------------------------------


def _require_open(lease: Lease) -> None:
    if lease.status in _CLOSED:
        raise LeaseClosed(f"The lease is {lease.status}.")


async def _tenant_count(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID
) -> int:
    count = await session.scalar(
        owned_columns(scope, LeaseTenant, func.count()).where(
            LeaseTenant.lease_id == lease_id
        )
    )
    return int(count or 0)


async def _tenant_on(
    session: AsyncSession, scope: StaffScope, lease: Lease, tenant_id: uuid.UUID
) -> LeaseTenant:
    tenant = await session.scalar(
        owned(scope, LeaseTenant).where(
            LeaseTenant.id == tenant_id, LeaseTenant.lease_id == lease.id
        )
    )
    if tenant is None:
        raise LeaseTenantNotFound
    return tenant


async def add_tenant(
    session: AsyncSession, scope: StaffScope, lease_id: uuid.UUID, body: TenantIn
) -> LeaseTenantOut:
    """Put one more person on a lease that is not over."""
    lease = await lock_lease(session, scope, lease_id)
    _require_open(lease)
    if await _tenant_count(session, scope, lease.id) >= MAX_TENANTS:
        raise LeaseTenantLimit
    tenant = new_tenant(
        scope, lease.id, full_name=body.full_name, email=body.email, phone=body.phone
    )
    session.add(tenant)
    await session.flush()
    audit.by_staff(
        session,
        scope,
        "lease_tenant.added",
        tenant.id,
        audit.created(tenant, TENANT_FIELDS),
    )
    return _tenant_out(tenant)


async def update_tenant(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    tenant_id: uuid.UUID,
    values: Mapping[str, Any],
) -> LeaseTenantOut:
    """Correct a tenant's name or contact details, on any lease."""
    lease = await lock_lease(session, scope, lease_id)
    tenant = await _tenant_on(session, scope, lease, tenant_id)
    changes = audit.apply_changes(tenant, values)
    if changes:
        await session.flush()
        audit.by_staff(session, scope, "lease_tenant.updated", tenant.id, changes)
    return _tenant_out(tenant)


async def remove_tenant(
    session: AsyncSession,
    scope: StaffScope,
    lease_id: uuid.UUID,
    tenant_id: uuid.UUID,
) -> None:
    """Take a person off a lease that is not over; never its last tenant."""
    lease = await lock_lease(session, scope, lease_id)
    _require_open(lease)
    tenant = await _tenant_on(session, scope, lease, tenant_id)
    if await _tenant_count(session, scope, lease.id) <= 1:
        raise LeaseNeedsATenant("Add the new tenant before removing the last one.")
    audit.by_staff(
        session,
        scope,
        "lease_tenant.removed",
        tenant.id,
        {
            "lease_id": {"from": audit.json_value(lease.id)},
            "full_name": {"from": tenant.full_name},
        },
    )
    await session.delete(tenant)
    await session.flush()
