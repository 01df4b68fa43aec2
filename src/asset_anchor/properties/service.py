"""Properties and their units: the rules, reads and writes.

Everything here reaches rows through ``organizations.scope`` and flushes; the
request commits. Every write is audited. A property or unit is archived
rather than deleted once anything refers to it; deleting is for mistakes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.db import flush_or_conflict
from asset_anchor.kit.pagination import Order, SortColumn, Sorting, contains, cut_page
from asset_anchor.kit.pagination import paginate as keyset
from asset_anchor.kit.time import utc_now
from asset_anchor.models import Lease, Organization, Property, Unit
from asset_anchor.organizations.scope import StaffScope, get_owned, owned_columns
from asset_anchor.properties.errors import (
    AreaUnitRequired,
    PropertyArchived,
    PropertyInUse,
    PropertyNotFound,
    UnitArchived,
    UnitHasActiveLease,
    UnitInUse,
    UnitLabelTaken,
    UnitNotFound,
)
from asset_anchor.properties.schemas import (
    Address,
    ListStatus,
    PropertyIn,
    PropertyOut,
    UnitIn,
    UnitOut,
)

PROPERTY_SORTING = Sorting(
    columns={
        "name": SortColumn(Property.name, "text"),
        "created_at": SortColumn(Property.created_at, "datetime"),
    },
    default="name",
    id_column=Property.id,
)
UNIT_SORTING = Sorting(
    columns={
        "label": SortColumn(Unit.label, "text"),
        "created_at": SortColumn(Unit.created_at, "datetime"),
    },
    default="label",
    id_column=Unit.id,
)
_ADDRESS_COLUMNS = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "city",
    "region": "region",
    "postal_code": "postal_code",
    "country": "country",
}
_PROPERTY_FIELDS = ("name", "kind", "timezone", *_ADDRESS_COLUMNS.values())
_UNIT_FIELDS = (
    "property_id",
    "label",
    "bedrooms",
    "bathrooms",
    "area",
    "area_unit",
    "market_rent_amount",
    "currency",
)
_LABEL_TAKEN = {"uq_units_property_id_label": UnitLabelTaken}


# --- reading ----------------------------------------------------------------


def _live_units() -> Any:
    return (
        select(func.count())
        .where(Unit.property_id == Property.id, Unit.archived_at.is_(None))
        .correlate(Property)
        .scalar_subquery()
    )


_PROPERTY_COLUMNS = (
    Property.id,
    Property.name,
    Property.kind,
    Property.address_line1,
    Property.address_line2,
    Property.city,
    Property.region,
    Property.postal_code,
    Property.country,
    Property.timezone,
    Property.archived_at,
    Property.created_at,
)


def address_of(row: Any) -> Address:
    """A property's address from its columns (an object or a selected row)."""
    return Address(
        line1=row.address_line1,
        line2=row.address_line2,
        city=row.city,
        region=row.region,
        postal_code=row.postal_code,
        country=row.country,
    )


def _property_out(row: Any) -> PropertyOut:
    return PropertyOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        address=address_of(row),
        timezone=row.timezone,
        unit_count=row.unit_count,
        archived_at=row.archived_at,
        created_at=row.created_at,
    )


def _with_status(statement: Any, column: Any, status: ListStatus) -> Any:
    if status == "active":
        return statement.where(column.is_(None))
    if status == "archived":
        return statement.where(column.is_not(None))
    return statement


async def list_properties(
    session: AsyncSession,
    scope: StaffScope,
    *,
    order: Order,
    status: ListStatus,
    kind: str | None,
    search: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[PropertyOut], str | None]:
    """One page of the organization's properties, with their unit counts."""
    statement = owned_columns(
        scope, Property, *_PROPERTY_COLUMNS, _live_units().label("unit_count")
    )
    statement = _with_status(statement, Property.archived_at, status)
    if kind is not None:
        statement = statement.where(Property.kind == kind)
    if search is not None:
        pattern = contains(search)
        statement = statement.where(
            or_(
                Property.name.ilike(pattern),
                Property.address_line1.ilike(pattern),
                Property.city.ilike(pattern),
                Property.postal_code.ilike(pattern),
            )
        )
    rows = (await session.execute(keyset(statement, order, cursor, limit))).all()
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (getattr(row, order.name), row.id)
    )
    return [_property_out(row) for row in page], next_cursor


async def read_property(
    session: AsyncSession, scope: StaffScope, property_id: uuid.UUID
) -> PropertyOut:
    row = (
        await session.execute(
            owned_columns(
                scope, Property, *_PROPERTY_COLUMNS, _live_units().label("unit_count")
            ).where(Property.id == property_id)
        )
    ).first()
    if row is None:
        raise PropertyNotFound
    return _property_out(row)


def _unit_out(unit: Any) -> UnitOut:
    return UnitOut(
        id=unit.id,
        property_id=unit.property_id,
        label=unit.label,
        bedrooms=unit.bedrooms,
        bathrooms=unit.bathrooms,
        area=unit.area,
        area_unit=unit.area_unit,
        market_rent_amount=unit.market_rent_amount,
        currency=unit.currency,
        archived_at=unit.archived_at,
        created_at=unit.created_at,
    )


_UNIT_COLUMNS = (
    Unit.id,
    Unit.property_id,
    Unit.label,
    Unit.bedrooms,
    Unit.bathrooms,
    Unit.area,
    Unit.area_unit,
    Unit.market_rent_amount,
    Unit.currency,
    Unit.archived_at,
    Unit.created_at,
)


async def list_units(
    session: AsyncSession,
    scope: StaffScope,
    property_id: uuid.UUID,
    *,
    order: Order,
    status: ListStatus,
    search: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[UnitOut], str | None]:
    """One page of a property's units."""
    await get_owned(session, scope, Property, property_id, PropertyNotFound)
    statement = owned_columns(scope, Unit, *_UNIT_COLUMNS).where(
        Unit.property_id == property_id
    )
    statement = _with_status(statement, Unit.archived_at, status)
    if search is not None:
        statement = statement.where(Unit.label.ilike(contains(search)))
    rows = (await session.execute(keyset(statement, order, cursor, limit))).all()
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (getattr(row, order.name), row.id)
    )
    return [_unit_out(row) for row in page], next_cursor


async def read_unit(
    session: AsyncSession, scope: StaffScope, unit_id: uuid.UUID
) -> UnitOut:
    return _unit_out(await get_owned(session, scope, Unit, unit_id, UnitNotFound))


# --- properties -------------------------------------------------------------


def _address_columns(address: Address) -> dict[str, Any]:
    return {
        column: getattr(address, field) for field, column in _ADDRESS_COLUMNS.items()
    }


async def create_property(
    session: AsyncSession, scope: StaffScope, body: PropertyIn
) -> PropertyOut:
    prop = Property(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        name=body.name,
        kind=body.kind,
        timezone=body.timezone,
        **_address_columns(body.address),
    )
    session.add(prop)
    await session.flush()
    audit.record(
        session,
        organization_id=scope.organization_id,
        actor_id=scope.user_id,
        action="property.created",
        entity_type="property",
        entity_id=prop.id,
        changes=audit.created(prop, _PROPERTY_FIELDS),
    )
    return await read_property(session, scope, prop.id)


async def update_property(
    session: AsyncSession,
    scope: StaffScope,
    property_id: uuid.UUID,
    values: Mapping[str, Any],
) -> PropertyOut:
    """Apply the fields the caller sent (``values``, already validated)."""
    prop = await get_owned(session, scope, Property, property_id, PropertyNotFound)
    columns = {key: value for key, value in values.items() if key != "address"}
    if values.get("address") is not None:
        columns.update(_address_columns(Address.model_validate(values["address"])))
    changes = audit.apply_changes(prop, columns)
    if changes:
        await session.flush()
        audit.by_staff(session, scope, "property.updated", prop.id, changes)
    return await read_property(session, scope, prop.id)


async def set_property_archived(
    session: AsyncSession, scope: StaffScope, property_id: uuid.UUID, archived: bool
) -> PropertyOut:
    """Archive (hide from lists, refuse new units) or bring back a property.

    A property with an active lease cannot be archived: end the lease first.
    Archiving twice changes nothing and records nothing.
    """
    prop = await get_owned(
        session, scope, Property, property_id, PropertyNotFound, lock=True
    )
    if (
        archived
        and prop.archived_at is None
        and await _has_active_lease(session, Lease.property_id == prop.id)
    ):
        raise UnitHasActiveLease("End the property's active leases first.")
    target = (prop.archived_at or utc_now()) if archived else None
    changes = audit.apply_changes(prop, {"archived_at": target})
    if changes:
        await session.flush()
        action = "property.archived" if archived else "property.unarchived"
        audit.by_staff(session, scope, action, prop.id, changes)
    return await read_property(session, scope, prop.id)


async def delete_property(
    session: AsyncSession, scope: StaffScope, property_id: uuid.UUID
) -> None:
    """Delete a property made by mistake; one with units is archived instead."""
    prop = await get_owned(
        session, scope, Property, property_id, PropertyNotFound, lock=True
    )
    if await session.scalar(select(exists().where(Unit.property_id == prop.id))):
        raise PropertyInUse
    audit.by_staff(
        session, scope, "property.deleted", prop.id, {"name": {"from": prop.name}}
    )
    await session.delete(prop)
    await session.flush()


# --- units ------------------------------------------------------------------


async def _has_active_lease(session: AsyncSession, condition: Any) -> bool:
    found = await session.scalar(
        select(exists().where(condition, Lease.status == "active"))
    )
    return bool(found)


def _check_area(area: int | None, area_unit: str | None) -> None:
    if (area is None) != (area_unit is None):
        raise AreaUnitRequired


async def _default_currency(session: AsyncSession, scope: StaffScope) -> str:
    currency: str | None = await session.scalar(
        select(Organization.default_currency).where(
            Organization.id == scope.organization_id
        )
    )
    assert currency is not None
    return currency


async def create_unit(
    session: AsyncSession, scope: StaffScope, property_id: uuid.UUID, body: UnitIn
) -> UnitOut:
    prop = await get_owned(
        session, scope, Property, property_id, PropertyNotFound, lock=True
    )
    if prop.archived_at is not None:
        raise PropertyArchived("Bring the property back before adding units.")
    _check_area(body.area, body.area_unit)
    unit = Unit(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        property_id=prop.id,
        label=body.label,
        bedrooms=body.bedrooms,
        bathrooms=body.bathrooms,
        area=body.area,
        area_unit=body.area_unit,
        market_rent_amount=body.market_rent_amount,
        currency=body.currency or await _default_currency(session, scope),
    )
    session.add(unit)
    await flush_or_conflict(session, _LABEL_TAKEN)
    audit.by_staff(
        session, scope, "unit.created", unit.id, audit.created(unit, _UNIT_FIELDS)
    )
    return _unit_out(unit)


async def update_unit(
    session: AsyncSession,
    scope: StaffScope,
    unit_id: uuid.UUID,
    values: Mapping[str, Any],
) -> UnitOut:
    """Apply the fields the caller sent; null clears an optional field."""
    unit = await get_owned(session, scope, Unit, unit_id, UnitNotFound, lock=True)
    _check_area(values.get("area", unit.area), values.get("area_unit", unit.area_unit))
    changes = audit.apply_changes(unit, values)
    if changes:
        await flush_or_conflict(session, _LABEL_TAKEN)
        audit.by_staff(session, scope, "unit.updated", unit.id, changes)
    return _unit_out(unit)


async def set_unit_archived(
    session: AsyncSession, scope: StaffScope, unit_id: uuid.UUID, archived: bool
) -> UnitOut:
    """Archive a unit no longer let, or bring one back (its label permitting)."""
    unit = await get_owned(session, scope, Unit, unit_id, UnitNotFound, lock=True)
    if (
        archived
        and unit.archived_at is None
        and await _has_active_lease(session, Lease.unit_id == unit.id)
    ):
        raise UnitHasActiveLease("End the unit's active lease first.")
    target = (unit.archived_at or utc_now()) if archived else None
    changes = audit.apply_changes(unit, {"archived_at": target})
    if changes:
        await flush_or_conflict(session, _LABEL_TAKEN)
        action = "unit.archived" if archived else "unit.unarchived"
        audit.by_staff(session, scope, action, unit.id, changes)
    return _unit_out(unit)


async def delete_unit(
    session: AsyncSession, scope: StaffScope, unit_id: uuid.UUID
) -> None:
    """Delete a unit made by mistake; one with any lease is archived instead."""
    unit = await get_owned(session, scope, Unit, unit_id, UnitNotFound, lock=True)
    if await session.scalar(select(exists().where(Lease.unit_id == unit.id))):
        raise UnitInUse
    audit.by_staff(
        session, scope, "unit.deleted", unit.id, {"label": {"from": unit.label}}
    )
    await session.delete(unit)
    await session.flush()


async def unit_for_lease(
    session: AsyncSession, scope: StaffScope, unit_id: uuid.UUID
) -> tuple[Unit, Property]:
    """A unit a lease may be made or started on, locked for the caller's change.

    The lock serialises everything that starts leases on the unit, which is
    how no two active leases of one unit can overlap.
    """
    unit = await get_owned(session, scope, Unit, unit_id, UnitNotFound, lock=True)
    prop = await get_owned(session, scope, Property, unit.property_id, PropertyNotFound)
    if unit.archived_at is not None:
        raise UnitArchived
    if prop.archived_at is not None:
        raise PropertyArchived
    return unit, prop
