"""Reaching Stripe from a request or a job, and Stripe's errors as ours."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from asset_anchor.errors import AppError
from asset_anchor.idempotency.service import IdempotencyKeyReused
from asset_anchor.integrations.stripe import StripeClient, StripeConfig, StripeError
from asset_anchor.payments.errors import (
    PaymentProviderError,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
)
from asset_anchor.settings import Settings


def stripe_for(settings: Settings, http: httpx.AsyncClient) -> StripeClient:
    """The Stripe client, or ``payments_not_configured`` without a key."""
    if settings.stripe_secret_key is None:
        raise PaymentsNotConfigured(
            "Set STRIPE_SECRET_KEY (and the webhook secrets) to take payments online."
        )
    config = StripeConfig(
        secret_key=settings.stripe_secret_key.get_secret_value(),
        api_url=settings.stripe_api_url,
    )
    return StripeClient(http, config, timeout=settings.stripe_timeout_seconds)


async def _request_stripe(request: Request) -> StripeClient:
    return stripe_for(request.app.state.settings, request.app.state.http)


StripeDep = Annotated[StripeClient, Depends(_request_stripe)]


def as_app_error(error: StripeError) -> AppError:
    """What a request answers when Stripe said no or could not be reached."""
    if error.error_type == "idempotency_error":
        return IdempotencyKeyReused(
            "This Idempotency-Key was used with another request."
        )
    if error.transient:
        return PaymentProviderUnavailable()
    return PaymentProviderError(
        "The payment provider refused the request; it has been logged.",
        provider_code=error.code,
    )
