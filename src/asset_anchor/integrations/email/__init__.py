"""Email delivery: Postmark in production, ``.eml`` files elsewhere.

This layer knows nothing of our domains: it takes an ``OutgoingEmail`` of
plain values and returns a ``DeliveryReceipt`` or raises
``EmailDeliveryError``.
"""

from asset_anchor.integrations.email.factory import build_mailer
from asset_anchor.integrations.email.files import FileMailer
from asset_anchor.integrations.email.message import (
    DeliveryReceipt,
    EmailDeliveryError,
    Mailer,
    OutgoingEmail,
)
from asset_anchor.integrations.email.postmark import (
    POSTMARK_ERROR_CODES,
    PostmarkMailer,
)

__all__ = [
    "POSTMARK_ERROR_CODES",
    "DeliveryReceipt",
    "EmailDeliveryError",
    "FileMailer",
    "Mailer",
    "OutgoingEmail",
    "PostmarkMailer",
    "build_mailer",
]
