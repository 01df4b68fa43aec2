"""Stripe: the REST API client and webhook signatures.

This layer knows nothing of our domains: it takes plain values, returns
Stripe's objects as dicts and raises ``StripeError`` or ``InvalidSignature``.
"""

from asset_anchor.integrations.stripe.client import (
    API_VERSION,
    StripeClient,
    StripeConfig,
    StripeError,
    encode,
)
from asset_anchor.integrations.stripe.signature import InvalidSignature, sign, verify

__all__ = [
    "API_VERSION",
    "InvalidSignature",
    "StripeClient",
    "StripeConfig",
    "StripeError",
    "encode",
    "sign",
    "verify",
]
