"""Stripe: the REST API client and webhook signatures.

This layer knows nothing of our domains: it takes plain values, returns
Stripe's objects as dicts and raises ``StripeError`` or ``InvalidSignature``.
"""

from asset_anchor.integrations.stripe.client import (
    API_VERSION,
    Lister,
    StripeClient,
    StripeConfig,
    StripeError,
    encode,
    every,
    pages,
)
from asset_anchor.integrations.stripe.signature import InvalidSignature, sign, verify

__all__ = [
    "API_VERSION",
    "InvalidSignature",
    "Lister",
    "StripeClient",
    "StripeConfig",
    "StripeError",
    "encode",
    "every",
    "pages",
    "sign",
    "verify",
]
