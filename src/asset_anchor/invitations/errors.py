"""The errors of invitations, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RequestValidationFailed,
    Unauthorized,
)


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    title = "No such invitation"


class InvitationPending(Conflict):
    code = "invitation_pending"
    title = "An invitation to this address is already waiting; resend it instead"


class InvitationNotPending(Conflict):
    code = "invitation_not_pending"
    title = "The invitation was accepted, revoked or has expired"


class InvitationExpired(Conflict):
    code = "invitation_expired"
    title = "The invitation has expired; ask for a new one"


class InvitationRevoked(Conflict):
    code = "invitation_revoked"
    title = "The invitation was withdrawn"


class InvitationAlreadyAccepted(Conflict):
    code = "invitation_already_accepted"
    title = "The invitation was accepted already"


class AlreadyMember(Conflict):
    code = "already_member"
    title = "That address already belongs to this organization's staff"


class AlreadyOnLease(Conflict):
    code = "already_on_lease"
    title = "That person is already on this lease"


class SignInRequired(Unauthorized):
    code = "sign_in_required"
    title = "This address has an account: sign in to accept"


class InvitationForAnotherAccount(Forbidden):
    code = "invitation_for_another_account"
    title = "This invitation is for another account's address"


class PasswordRequired(RequestValidationFailed):
    code = "password_required"
    title = "Choose a password to create the account"
