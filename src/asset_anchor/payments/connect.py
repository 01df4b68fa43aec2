"""An organization's Stripe Connect account: onboarding, Stripe's word on it,
and the platform's fee.

The owner onboards in the request (they need the link at once): the first
time, an Express account is made for the organization and its id stored;
every time, a fresh single-use account link is made for it. Stripe's
idempotency key, derived from the organization's id, makes a retried or
doubled request find the same account; the organization's row, locked while
the id is stored, lets a second request that lost the race take the id the
first one stored.

From then on Stripe's events keep our copy of the account's state.
``account.updated`` refetches the account and applies it, unless the event is
older than the state already held (``stripe_account_seen_at``), so that a late
event never undoes a newer one. ``account.application.deauthorized`` ends the
connection: payments stop, and the account's id stays for the record. The
next onboarding after that makes a new account in its place, under a new
idempotency key, since a disconnected account cannot take our charges again.

The platform's fee per organization is set by platform admins only; the
change is a security event of the admin and an entry in the organization's
audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts.service import Client, record_event
from asset_anchor.audit import service as audit
from asset_anchor.errors import AppError
from asset_anchor.integrations.stripe import StripeClient, StripeError
from asset_anchor.logging import get_logger
from asset_anchor.models import Organization
from asset_anchor.organizations.errors import OrganizationNotFound
from asset_anchor.organizations.scope import StaffScope
from asset_anchor.payments.access import as_app_error, stripe_for
from asset_anchor.payments.connect_schemas import StripeConnectionOut
from asset_anchor.payments.errors import PaymentProviderError
from asset_anchor.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class OnboardingLink:
    url: str
    expires_at: datetime


UNCHANGED = "unchanged"
UNREACHABLE = "account not reachable at Stripe"


async def _own_organization(
    session: AsyncSession, scope: StaffScope, organization_id: uuid.UUID
) -> Organization:
    """The caller's organization; any other id does not exist for them."""
    if organization_id != scope.organization_id:
        raise OrganizationNotFound
    found = await session.get(Organization, organization_id)
    if found is None:
        raise OrganizationNotFound
    return found


def connection_of(organization: Organization) -> StripeConnectionOut:
    return StripeConnectionOut(
        connected=organization.stripe_account_id is not None
        and organization.stripe_disconnected_at is None,
        account_id=organization.stripe_account_id,
        charges_enabled=organization.stripe_charges_enabled,
        payouts_enabled=organization.stripe_payouts_enabled,
        details_submitted=organization.stripe_details_submitted,
        disconnected_at=organization.stripe_disconnected_at,
        platform_fee_bps=organization.platform_fee_bps,
    )


async def read_connection(
    session: AsyncSession, scope: StaffScope, organization_id: uuid.UUID
) -> StripeConnectionOut:
    return connection_of(await _own_organization(session, scope, organization_id))


# --- onboarding -------------------------------------------------------------------


def _refusal(error: StripeError) -> AppError:
    if error.error_type == "idempotency_error":
        # The organization's details changed since a first try whose answer
        # was lost; Stripe keeps the key for a day.
        return PaymentProviderError(
            "Stripe still holds an earlier request for this organization's"
            " account with other details; try again tomorrow.",
            provider_code=error.code,
        )
    return as_app_error(error)


async def start_onboarding(
    session: AsyncSession,
    scope: StaffScope,
    organization_id: uuid.UUID,
    *,
    settings: Settings,
    http: httpx.AsyncClient,
) -> OnboardingLink:
    """A link to Stripe's onboarding for the organization's account (owner
    only), making the account first when there is none to onboard."""
    organization = await _own_organization(session, scope, organization_id)
    scope.require_owner()
    stripe = stripe_for(settings, http)
    before = organization.stripe_account_id

    account_id = await _account_to_onboard(session, stripe, settings, organization)
    try:
        link = await stripe.create_account_link(
            account=account_id,
            refresh_url=f"{settings.frontend_url}/settings/payments?refresh=1",
            return_url=f"{settings.frontend_url}/settings/payments?return=1",
        )
    except StripeError as error:
        raise _refusal(error) from error

    audit.by_staff(
        session,
        scope,
        "stripe.onboarding_started",
        organization.id,
        {"stripe_account_id": {"from": before, "to": account_id}},
        entity_type="organization",
    )
    log.info(
        "stripe.onboarding_started",
        organization_id=str(organization.id),
        account=account_id,
    )
    return OnboardingLink(
        url=str(link["url"]),
        expires_at=datetime.fromtimestamp(int(link["expires_at"]), tz=UTC),
    )


async def _account_to_onboard(
    session: AsyncSession,
    stripe: StripeClient,
    settings: Settings,
    organization: Organization,
) -> str:
    """The account held, or a new one when none is held or it was disconnected."""
    held = organization.stripe_account_id
    if held is not None and organization.stripe_disconnected_at is None:
        return held
    try:
        account = await stripe.create_account(
            organization_id=str(organization.id),
            email=organization.contact_email,
            country=settings.stripe_connect_country,
            replacing=held,
        )
    except StripeError as error:
        raise _refusal(error) from error

    # Another request for this organization may have stored an account since
    # it was read: the lock waits for it, and its account is the one to keep.
    await session.refresh(organization, with_for_update=True)
    if organization.stripe_account_id != held:
        assert organization.stripe_account_id is not None
        return organization.stripe_account_id
    organization.stripe_account_id = str(account["id"])
    organization.stripe_charges_enabled = bool(account.get("charges_enabled"))
    organization.stripe_payouts_enabled = bool(account.get("payouts_enabled"))
    organization.stripe_details_submitted = bool(account.get("details_submitted"))
    organization.stripe_account_seen_at = None
    organization.stripe_disconnected_at = None
    await session.flush()
    log.info(
        "stripe.account_created",
        organization_id=str(organization.id),
        account=organization.stripe_account_id,
        replacing=held,
    )
    return organization.stripe_account_id


# --- Stripe's word ----------------------------------------------------------------


def _created_at(event: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(event["created"]), tz=UTC)


async def _organization_with_account(
    session: AsyncSession, account_id: str
) -> Organization | None:
    found: Organization | None = await session.scalar(
        select(Organization)
        .where(Organization.stripe_account_id == account_id)
        .with_for_update()
    )
    return found


async def apply_account_updated(
    session: AsyncSession, stripe: StripeClient, event: dict[str, Any]
) -> str:
    """Bring the organization's copy of its account to Stripe's current state,
    unless the event is older than the state held; say what was done."""
    account_id = str(event["data"]["object"].get("id") or event.get("account"))
    organization = await _organization_with_account(session, account_id)
    if organization is None:
        return "unknown account"
    if organization.stripe_disconnected_at is not None:
        return "account disconnected; ignored"
    seen = _created_at(event)
    held = organization.stripe_account_seen_at
    if held is not None and seen < held:
        return "older than the state held; ignored"

    return await refresh_account(session, stripe, organization, seen)


async def refresh_account(
    session: AsyncSession,
    stripe: StripeClient,
    organization: Organization,
    seen: datetime,
) -> str:
    """Fetch the organization's account (its row locked by the caller) and
    keep Stripe's state of it, as of ``seen``; say what changed."""
    account_id = organization.stripe_account_id
    assert account_id is not None
    try:
        account = await stripe.retrieve_account(account_id)
    except StripeError as error:
        if error.status in (403, 404):
            # Gone, or no longer ours: the deauthorization event says which.
            return UNREACHABLE
        raise
    changes = audit.apply_changes(
        organization,
        {
            "stripe_charges_enabled": bool(account.get("charges_enabled")),
            "stripe_payouts_enabled": bool(account.get("payouts_enabled")),
            "stripe_details_submitted": bool(account.get("details_submitted")),
        },
    )
    organization.stripe_account_seen_at = seen
    await session.flush()
    if not changes:
        return UNCHANGED
    audit.record(
        session,
        organization_id=organization.id,
        actor_id=None,
        action="stripe.account_updated",
        entity_type="organization",
        entity_id=organization.id,
        changes=changes,
    )
    outcome = ", ".join(
        f"{field.removeprefix('stripe_')} {change['from']} -> {change['to']}"
        for field, change in changes.items()
    )
    log.info(
        "stripe.account_updated",
        organization_id=str(organization.id),
        account=account_id,
        outcome=outcome,
    )
    return outcome


async def disconnect(session: AsyncSession, event: dict[str, Any]) -> str:
    """The account's owner or Stripe took our access to it away: payments stop.

    Final for that account, whatever order events come in; the next
    onboarding makes a new one.
    """
    account_id = event.get("account")
    if not account_id:
        return "no account on the event"
    organization = await _organization_with_account(session, str(account_id))
    if organization is None:
        return "unknown account"
    if organization.stripe_disconnected_at is not None:
        return "disconnected already"

    at = _created_at(event)
    changes = audit.apply_changes(
        organization,
        {
            "stripe_charges_enabled": False,
            "stripe_payouts_enabled": False,
            "stripe_disconnected_at": at,
        },
    )
    held = organization.stripe_account_seen_at
    organization.stripe_account_seen_at = at if held is None else max(held, at)
    await session.flush()
    audit.record(
        session,
        organization_id=organization.id,
        actor_id=None,
        action="stripe.account_disconnected",
        entity_type="organization",
        entity_id=organization.id,
        changes={
            **changes,
            "stripe_account_id": {"from": account_id, "to": account_id},
        },
    )
    log.info(
        "stripe.account_disconnected",
        organization_id=str(organization.id),
        account=account_id,
    )
    return "disconnected"


# --- the platform's fee -----------------------------------------------------------


async def set_platform_fee(
    session: AsyncSession,
    admin_id: uuid.UUID,
    organization_id: uuid.UUID,
    platform_fee_bps: int,
    client: Client,
) -> Organization:
    """A platform admin sets the organization's fee on its next payments.

    Payments already started keep the fee they were made with.
    """
    organization = await session.get(
        Organization, organization_id, with_for_update=True
    )
    if organization is None:
        raise OrganizationNotFound
    before = organization.platform_fee_bps

    changes = audit.apply_changes(organization, {"platform_fee_bps": platform_fee_bps})
    await session.flush()

    record_event(
        session,
        "platform_fee_set",
        user_id=admin_id,
        client=client,
        organization_id=str(organization.id),
        platform_fee_bps={"from": before, "to": platform_fee_bps},
    )
    if changes:
        audit.record(
            session,
            organization_id=organization.id,
            actor_id=admin_id,
            action="organization.platform_fee_changed",
            entity_type="organization",
            entity_id=organization.id,
            changes=changes,
        )
    return organization
