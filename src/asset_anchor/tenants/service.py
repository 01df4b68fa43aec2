"""The tenant portal's reads: the leases the caller is on.

Leases are reached only through ``tenants.scope``; a page costs two
statements whatever its size (the leases with their unit, property and
landlord, then the co-tenants of all of them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import any_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.auth import Principal
from asset_anchor.db import uuid_array
from asset_anchor.kit.pagination import SortColumn, Sorting, cut_page
from asset_anchor.kit.pagination import paginate as keyset
from asset_anchor.kit.time import utc_now
from asset_anchor.leases import terms
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.leases.service import late_fee_of
from asset_anchor.models import Lease, LeaseTenant, Organization, Property, Unit
from asset_anchor.properties.service import address_of
from asset_anchor.tenants.schemas import (
    CoTenant,
    Landlord,
    MyLease,
    MyLeaseProperty,
    MyLeaseUnit,
)
from asset_anchor.tenants.scope import tenant_leases

MY_LEASE_SORTING = Sorting(
    columns={"start_date": SortColumn(Lease.start_date, "date")},
    default="-start_date",
    id_column=Lease.id,
)
_COLUMNS = (
    Lease.id,
    Lease.status,
    Lease.start_date,
    Lease.end_date,
    Lease.rent_amount,
    Lease.currency,
    Lease.due_day,
    Lease.security_deposit_amount,
    Lease.late_fee_grace_days,
    Lease.late_fee_kind,
    Lease.late_fee_flat_amount,
    Lease.late_fee_percent_bps,
    Lease.late_fee_frequency,
    Lease.late_fee_cap_amount,
    Unit.id.label("unit_id"),
    Unit.label.label("unit_label"),
    Unit.bedrooms,
    Unit.bathrooms,
    Unit.area,
    Unit.area_unit,
    Property.id.label("property_id"),
    Property.name.label("property_name"),
    Property.address_line1,
    Property.address_line2,
    Property.city,
    Property.region,
    Property.postal_code,
    Property.country,
    Property.timezone,
    Organization.name.label("landlord_name"),
    Organization.contact_email,
    Organization.contact_phone,
    Organization.mailing_address,
)


def _my_leases(caller: Principal) -> Any:
    return (
        tenant_leases(caller, *_COLUMNS)
        .join(Unit, Unit.id == Lease.unit_id)
        .join(Property, Property.id == Lease.property_id)
        .join(Organization, Organization.id == Lease.organization_id)
    )


async def _co_tenants(
    session: AsyncSession, caller: Principal, lease_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """The names of everyone else on these leases (already the caller's)."""
    found: dict[uuid.UUID, list[str]] = {lease_id: [] for lease_id in lease_ids}
    if not lease_ids:
        return found
    rows = await session.execute(
        select(LeaseTenant.lease_id, LeaseTenant.full_name)
        .where(
            LeaseTenant.lease_id == any_(uuid_array(lease_ids)),
            or_(LeaseTenant.user_id.is_(None), LeaseTenant.user_id != caller.user_id),
        )
        .order_by(LeaseTenant.created_at, LeaseTenant.full_name, LeaseTenant.id)
    )
    for row in rows:
        found[row.lease_id].append(row.full_name)
    return found


def _my_lease(row: Any, co_tenants: Iterable[str]) -> MyLease:
    today = terms.local_today(row.timezone, utc_now())
    return MyLease(
        id=row.id,
        status=row.status,
        start_date=row.start_date,
        end_date=row.end_date,
        rent_amount=row.rent_amount,
        currency=row.currency,
        due_day=row.due_day,
        security_deposit_amount=row.security_deposit_amount,
        late_fee=late_fee_of(row),
        next_rent_due_on=terms.next_rent_due_on(
            status=row.status,
            start_date=row.start_date,
            end_date=row.end_date,
            due_day=row.due_day,
            today=today,
        ),
        unit=MyLeaseUnit(
            id=row.unit_id,
            label=row.unit_label,
            bedrooms=row.bedrooms,
            bathrooms=row.bathrooms,
            area=row.area,
            area_unit=row.area_unit,
        ),
        property=MyLeaseProperty(
            id=row.property_id,
            name=row.property_name,
            address=address_of(row),
            timezone=row.timezone,
        ),
        landlord=Landlord(
            name=row.landlord_name,
            contact_email=row.contact_email,
            contact_phone=row.contact_phone,
            mailing_address=row.mailing_address,
        ),
        co_tenants=[CoTenant(full_name=name) for name in co_tenants],
    )


async def list_my_leases(
    session: AsyncSession, caller: Principal, *, cursor: str | None, limit: int
) -> tuple[list[MyLease], str | None]:
    """One page of the caller's leases, the latest start first."""
    order = MY_LEASE_SORTING.order(None)
    rows = (
        await session.execute(keyset(_my_leases(caller), order, cursor, limit))
    ).all()
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (row.start_date, row.id)
    )
    co_tenants = await _co_tenants(session, caller, [row.id for row in page])
    return [_my_lease(row, co_tenants[row.id]) for row in page], next_cursor


async def read_my_lease(
    session: AsyncSession, caller: Principal, lease_id: uuid.UUID
) -> MyLease:
    row = (
        await session.execute(_my_leases(caller).where(Lease.id == lease_id))
    ).first()
    if row is None:
        raise LeaseNotFound
    co_tenants = await _co_tenants(session, caller, [row.id])
    return _my_lease(row, co_tenants[row.id])
