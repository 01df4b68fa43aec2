"""The accounts domain's background jobs."""

from __future__ import annotations

import uuid

from asset_anchor.accounts.service import complete_registration, send_password_reset
from asset_anchor.jobs.context import JobContext
from asset_anchor.jobs.registry import job


@job("accounts.send_password_reset")
async def send_password_reset_job(ctx: JobContext, email: str) -> None:
    """Look the address up and send a reset link if it has an account.

    Idempotent enough: a second run issues a fresh link and voids the first,
    so at most one link works.
    """
    await send_password_reset(ctx.session, ctx.settings, email)


@job("accounts.complete_registration")
async def complete_registration_job(ctx: JobContext, registration_id: str) -> None:
    """Make the account of a sign-up, or warn the address's owner; once."""
    await complete_registration(ctx.session, ctx.settings, uuid.UUID(registration_id))
