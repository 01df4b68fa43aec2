"""The one place landlord-side data is scoped to the caller's organization.

A staff handler asks for ``Staff`` (any member; a caller with no organization
gets 403 on a collection), ``StaffLookup`` (the same, but a caller with no
organization gets 404: on a route with an id the object simply does not exist
for them) or ``Owner``. It then reads and writes only through ``owned`` and
``get_owned``, which add the organization condition themselves; no handler or
service writes that condition by hand. An object of another organization is
answered exactly like a missing one: 404, with no data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.auth import CurrentPrincipal, Principal, VerifiedPrincipal
from asset_anchor.errors import Forbidden, NotFound
from asset_anchor.models.base import OrganizationOwned


class NotOrganizationMember(Forbidden):
    code = "organization_required"
    title = "Only an organization's staff may do this"


class OwnerOnly(Forbidden):
    code = "owner_only"
    title = "Only the organization's owner may do this"


@dataclass(frozen=True)
class StaffScope:
    """A staff user acting for their organization."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: str

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    def require_owner(self) -> None:
        if not self.is_owner:
            raise OwnerOnly


def _scope_of(caller: Principal) -> StaffScope | None:
    if caller.organization_id is None or caller.organization_role is None:
        return None
    return StaffScope(caller.user_id, caller.organization_id, caller.organization_role)


async def staff_scope(caller: CurrentPrincipal) -> StaffScope:
    scope = _scope_of(caller)
    if scope is None:
        raise NotOrganizationMember
    return scope


async def staff_lookup_scope(caller: CurrentPrincipal) -> StaffScope:
    scope = _scope_of(caller)
    if scope is None:
        raise NotFound
    return scope


async def owner_scope(caller: CurrentPrincipal) -> StaffScope:
    scope = await staff_scope(caller)
    scope.require_owner()
    return scope


async def verified_staff_lookup_scope(caller: VerifiedPrincipal) -> StaffScope:
    """As ``staff_lookup_scope``, for a caller whose email is confirmed: what
    moves money needs both."""
    return await staff_lookup_scope(caller)


Staff = Annotated[StaffScope, Depends(staff_scope)]
StaffLookup = Annotated[StaffScope, Depends(staff_lookup_scope)]
Owner = Annotated[StaffScope, Depends(owner_scope)]
VerifiedStaffLookup = Annotated[StaffScope, Depends(verified_staff_lookup_scope)]


Owned = TypeVar("Owned", bound=OrganizationOwned)


def owned(scope: StaffScope, model: type[Owned]) -> Select[Owned]:
    """``SELECT model`` limited to the caller's organization."""
    return select(model).where(model.organization_id == scope.organization_id)


def owned_columns(
    scope: StaffScope, model: type[OrganizationOwned], *columns: Any
) -> Select[Any]:
    """``SELECT columns FROM model …`` limited to the caller's organization.

    For read paths that build their answer from columns, not ORM objects.
    """
    return (
        select(*columns)
        .select_from(model)
        .where(model.organization_id == scope.organization_id)
    )


async def get_owned(
    session: AsyncSession,
    scope: StaffScope,
    model: type[Owned],
    object_id: uuid.UUID,
    missing: type[NotFound],
    *,
    lock: bool = False,
) -> Owned:
    """The caller's organization's object, or ``missing`` (404) for any other."""
    statement = owned(scope, model).where(model.id == object_id)
    if lock:
        statement = statement.with_for_update()
    found = await session.scalar(statement)
    if found is None:
        raise missing
    return found
