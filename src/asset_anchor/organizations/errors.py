"""The errors of organizations and their members, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import Conflict, NotFound


class OrganizationNotFound(NotFound):
    code = "organization_not_found"
    title = "No such organization"


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = "No such member of this organization"


class OwnerCannotLeave(Conflict):
    code = "owner_cannot_leave"
    title = "Hand ownership to another member first"


class AlreadyOwner(Conflict):
    code = "already_owner"
    title = "That member already owns the organization"


class AlreadyInOrganization(Conflict):
    code = "already_in_organization"
    title = "This account already belongs to an organization"
