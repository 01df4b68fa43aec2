"""The Connect API: an organization's Stripe account, and the platform's fee."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request

from asset_anchor.accounts.auth import AdminOnly, AdminPrincipal, TokenExpiredError
from asset_anchor.db import SessionDep
from asset_anchor.deps import ClientDep, SettingsDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.organizations.errors import OrganizationNotFound
from asset_anchor.organizations.scope import OwnerOnly, StaffLookup
from asset_anchor.payments import connect
from asset_anchor.payments.connect_schemas import (
    AdminOrganizationOut,
    AdminOrganizationUpdate,
    OnboardingLinkOut,
    StripeConnectionOut,
)
from asset_anchor.payments.errors import (
    PaymentProviderError,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
)

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)


async def _http(request: Request) -> httpx.AsyncClient:
    http: httpx.AsyncClient = request.app.state.http
    return http


HttpDep = Annotated[httpx.AsyncClient, Depends(_http)]


@router.post(
    "/{organization_id}/stripe/onboarding",
    name="stripe_onboarding",
    summary="Start or resume Stripe onboarding",
    response_model=OnboardingLinkOut,
    responses=error_responses(
        *_SIGNED_IN,
        OrganizationNotFound,
        OwnerOnly,
        PaymentsNotConfigured,
        PaymentProviderError,
        PaymentProviderUnavailable,
    ),
)
async def organizations_stripe_onboarding(
    organization_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    settings: SettingsDep,
    http: HttpDep,
) -> OnboardingLinkOut:
    """Owner only. Answers a link to Stripe's onboarding form; send the owner
    there at once.

    The first call makes the organization's Stripe Express account; later
    calls (an expired link, an unfinished form) answer a fresh link to the
    same account, and a call after the account was disconnected makes a new
    one. Stripe sends the owner back to `/settings/payments?return=1`, or to
    `/settings/payments?refresh=1` when the link has expired: ask for a new
    one then. Payments start once `GET …/stripe` shows `charges_enabled`.
    """
    link = await connect.start_onboarding(
        session, scope, organization_id, settings=settings, http=http
    )
    return OnboardingLinkOut(url=link.url, expires_at=link.expires_at)


@router.get(
    "/{organization_id}/stripe",
    name="stripe_get",
    summary="The organization's Stripe account",
    response_model=StripeConnectionOut,
    responses=error_responses(*_SIGNED_IN, OrganizationNotFound),
)
async def organizations_stripe_get(
    organization_id: uuid.UUID, scope: StaffLookup, session: SessionDep
) -> StripeConnectionOut:
    """Whether the organization can take online payments, as Stripe last said,
    and the platform's fee on them."""
    return await connect.read_connection(session, scope, organization_id)


@admin_router.patch(
    "/organizations/{organization_id}",
    name="organizations_update",
    summary="Set an organization's platform fee",
    response_model=AdminOrganizationOut,
    responses=error_responses(*_SIGNED_IN, AdminOnly, OrganizationNotFound),
)
async def admin_organizations_update(
    organization_id: uuid.UUID,
    body: AdminOrganizationUpdate,
    admin: AdminPrincipal,
    session: SessionDep,
    client: ClientDep,
) -> AdminOrganizationOut:
    """Platform admins only. The fee applies to payments started from now on.
    Audited: a security event of the admin and an entry in the
    organization's audit log."""
    organization = await connect.set_platform_fee(
        session, admin.user_id, organization_id, body.platform_fee_bps, client
    )
    return AdminOrganizationOut(
        id=organization.id,
        name=organization.name,
        platform_fee_bps=organization.platform_fee_bps,
    )
