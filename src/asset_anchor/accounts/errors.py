"""The errors the accounts API answers, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RequestValidationFailed,
    TooManyRequests,
    Unauthorized,
)


class InvalidCredentials(Unauthorized):
    """Wrong email or password; which of the two is never said."""

    code = "invalid_credentials"
    title = "The email address or password is not right"
    keeps_work = True


class AccountLocked(TooManyRequests):
    code = "account_locked"
    title = "Too many failed attempts; try again later"
    keeps_work = True


class WeakPassword(RequestValidationFailed):
    code = "weak_password"
    title = "Choose a stronger password"


class WrongPassword(BadRequest):
    code = "wrong_password"
    title = "The current password is not right"
    keeps_work = True


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = "The refresh token is not valid; sign in again"
    keeps_work = True


class InvalidLinkToken(BadRequest):
    code = "invalid_token"
    title = "This link is not valid or has expired"


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    title = "The email address is already confirmed"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Another account uses this email address now"


class SessionNotFound(NotFound):
    code = "session_not_found"
    title = "No such session"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "No such user"


class MfaAlreadyEnabled(Conflict):
    code = "mfa_already_enabled"
    title = "Two-step verification is already on"


class MfaNotEnabled(Conflict):
    code = "mfa_not_enabled"
    title = "Two-step verification is not on"


class MfaSetupMissing(Conflict):
    code = "mfa_setup_missing"
    title = "Start two-step verification setup first"


class InvalidMfaCode(BadRequest):
    code = "invalid_mfa_code"
    title = "The code is not right"
    keeps_work = True


class InvalidMfaChallenge(Unauthorized):
    code = "invalid_mfa_challenge"
    title = "The sign-in challenge is not valid or has expired; sign in again"
