"""An organization, its members and their roles, and its audit log.

A staff user belongs to exactly one organization (``join`` checks it under a
lock on the user's row). The owner changes the organization's details,
removes managers and hands ownership over; a manager may leave. Every write
is audited; reads go through ``organizations.scope``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.audit import service as audit
from asset_anchor.email.service import queue_email
from asset_anchor.kit.pagination import (
    Order,
    SortColumn,
    Sorting,
    cut_page,
    paginate,
)
from asset_anchor.models import (
    AuditEvent,
    Organization,
    OrganizationMembership,
    User,
)
from asset_anchor.organizations.errors import (
    AlreadyInOrganization,
    AlreadyOwner,
    MemberNotFound,
    OrganizationNotFound,
    OwnerCannotLeave,
)
from asset_anchor.organizations.schemas import (
    AuditEventOut,
    MemberOut,
    OrganizationOut,
)
from asset_anchor.organizations.scope import StaffScope, owned_columns

AUDIT_SORTING = Sorting(
    columns={"created_at": SortColumn(AuditEvent.created_at, "datetime")},
    default="-created_at",
    id_column=AuditEvent.id,
)


async def _organization(
    session: AsyncSession,
    scope: StaffScope,
    organization_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Organization:
    """The caller's own organization; any other id does not exist for them."""
    if organization_id != scope.organization_id:
        raise OrganizationNotFound
    statement = select(Organization).where(Organization.id == organization_id)
    if lock:
        statement = statement.with_for_update()
    found = await session.scalar(statement)
    if found is None:
        raise OrganizationNotFound
    return found


def _organization_out(organization: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=organization.id,
        name=organization.name,
        contact_email=organization.contact_email,
        contact_phone=organization.contact_phone,
        mailing_address=organization.mailing_address,
        default_currency=organization.default_currency,
        rent_charge_days_ahead=organization.rent_charge_days_ahead,
        rent_reminder_days_before=organization.rent_reminder_days_before,
        created_at=organization.created_at,
    )


async def read_organization(
    session: AsyncSession, scope: StaffScope, organization_id: uuid.UUID
) -> OrganizationOut:
    return _organization_out(await _organization(session, scope, organization_id))


async def update_organization(
    session: AsyncSession,
    scope: StaffScope,
    organization_id: uuid.UUID,
    values: Mapping[str, Any],
) -> OrganizationOut:
    """Change the name, contact details or default currency (owner only)."""
    organization = await _organization(session, scope, organization_id, lock=True)
    scope.require_owner()
    changes = audit.apply_changes(organization, values)
    if changes:
        await session.flush()
        audit.by_staff(session, scope, "organization.updated", organization.id, changes)
    return _organization_out(organization)


# --- members ----------------------------------------------------------------


async def list_members(
    session: AsyncSession, scope: StaffScope, organization_id: uuid.UUID
) -> list[MemberOut]:
    """Everyone on the organization's staff: the owner first, then by joining."""
    await _organization(session, scope, organization_id)
    rows = await session.execute(
        owned_columns(
            scope,
            OrganizationMembership,
            OrganizationMembership.user_id,
            OrganizationMembership.role,
            OrganizationMembership.created_at,
            User.full_name,
            User.email,
        )
        .join(User, User.id == OrganizationMembership.user_id)
        .order_by(
            (OrganizationMembership.role != "owner"),
            OrganizationMembership.created_at,
            OrganizationMembership.id,
        )
    )
    return [
        MemberOut(
            user_id=row.user_id,
            full_name=row.full_name,
            email=row.email,
            role=row.role,
            joined_at=row.created_at,
        )
        for row in rows
    ]


async def _membership(
    session: AsyncSession, scope: StaffScope, user_id: uuid.UUID
) -> OrganizationMembership:
    found = await session.scalar(
        select(OrganizationMembership)
        .where(
            OrganizationMembership.organization_id == scope.organization_id,
            OrganizationMembership.user_id == user_id,
        )
        .with_for_update()
    )
    if found is None:
        raise MemberNotFound
    return found


async def remove_member(
    session: AsyncSession,
    scope: StaffScope,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
) -> None:
    """The owner removes a manager, or a manager leaves.

    Access ends at once: every request looks the membership up afresh. The
    owner cannot leave before handing ownership to someone else.
    """
    organization = await _organization(session, scope, organization_id, lock=True)
    leaving = user_id == scope.user_id
    if not leaving:
        scope.require_owner()
    membership = await _membership(session, scope, user_id)
    if membership.role == "owner":
        raise OwnerCannotLeave
    person = await session.get(User, user_id)
    assert person is not None
    await session.delete(membership)
    await session.flush()
    audit.by_staff(
        session,
        scope,
        "member.left" if leaving else "member.removed",
        user_id,
        {"role": {"from": membership.role, "to": None}},
    )
    remover = await session.get(User, scope.user_id)
    queue_email(
        session,
        kind="membership_ended",
        to_address=person.email,
        to_name=person.full_name,
        context={
            "organization_name": organization.name,
            "left": leaving,
            "remover_name": remover.full_name if remover else organization.name,
        },
    )


async def transfer_ownership(
    session: AsyncSession,
    scope: StaffScope,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
) -> list[MemberOut]:
    """Make a manager the owner; the owner stays on as a manager."""
    organization = await _organization(session, scope, organization_id, lock=True)
    scope.require_owner()
    if user_id == scope.user_id:
        raise AlreadyOwner
    current = await _membership(session, scope, scope.user_id)
    successor = await _membership(session, scope, user_id)
    current.role = "manager"
    successor.role = "owner"
    await session.flush()
    audit.by_staff(
        session,
        scope,
        "ownership.transferred",
        organization.id,
        {"owner": {"from": str(scope.user_id), "to": str(user_id)}},
        entity_type="organization",
    )
    previous = await session.get(User, scope.user_id)
    successor_user = await session.get(User, user_id)
    assert previous is not None
    assert successor_user is not None
    queue_email(
        session,
        kind="ownership_transferred",
        to_address=successor_user.email,
        to_name=successor_user.full_name,
        context={
            "organization_name": organization.name,
            "previous_owner_name": previous.full_name,
        },
    )
    return await list_members(session, scope, organization_id)


async def join(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    invited_by: uuid.UUID | None,
) -> None:
    """Add a user to an organization's staff (an accepted invitation).

    The user's row is locked first, so two acceptances at once cannot give
    one user two organizations.
    """
    await session.scalar(select(User.id).where(User.id == user_id).with_for_update())
    existing = await session.scalar(
        select(OrganizationMembership.organization_id).where(
            OrganizationMembership.user_id == user_id
        )
    )
    if existing is not None:
        raise AlreadyInOrganization
    session.add(
        OrganizationMembership(
            id=uuid.uuid4(),
            organization_id=organization_id,
            user_id=user_id,
            role=role,
        )
    )
    await session.flush()
    audit.record(
        session,
        organization_id=organization_id,
        actor_id=user_id,
        action="member.joined",
        entity_type="member",
        entity_id=user_id,
        changes={
            "role": {"from": None, "to": role},
            "invited_by": {"from": None, "to": audit.json_value(invited_by)},
        },
    )


# --- the audit log ----------------------------------------------------------


async def list_audit_events(
    session: AsyncSession,
    scope: StaffScope,
    organization_id: uuid.UUID,
    *,
    order: Order,
    entity_type: str | None,
    entity_id: uuid.UUID | None,
    action: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[AuditEventOut], str | None]:
    """One page of the organization's audit log (owner only)."""
    await _organization(session, scope, organization_id)
    scope.require_owner()
    statement = owned_columns(
        scope,
        AuditEvent,
        AuditEvent.id,
        AuditEvent.created_at,
        AuditEvent.actor_id,
        AuditEvent.action,
        AuditEvent.entity_type,
        AuditEvent.entity_id,
        AuditEvent.changes,
        AuditEvent.request_id,
        User.full_name.label("actor_name"),
    ).outerjoin(User, User.id == AuditEvent.actor_id)
    if entity_type is not None:
        statement = statement.where(AuditEvent.entity_type == entity_type)
    if entity_id is not None:
        statement = statement.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    rows = (await session.execute(paginate(statement, order, cursor, limit))).all()
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (row.created_at, row.id)
    )
    return [
        AuditEventOut(
            id=row.id,
            created_at=row.created_at,
            actor_id=row.actor_id,
            actor_name=row.actor_name,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            changes=row.changes,
            request_id=row.request_id,
        )
        for row in page
    ], next_cursor
