"""The errors of online payments, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    RequestValidationFailed,
    ServiceUnavailable,
)


class PaymentsNotConfigured(ServiceUnavailable):
    code = "payments_not_configured"
    title = "Online payments are not set up on this service"


class OrganizationNotConnected(Conflict):
    code = "organization_not_connected"
    title = "The landlord does not take online payments yet"


class NothingOwed(Conflict):
    code = "nothing_owed"
    title = "Nothing is owed on this lease"


class PaymentClearing(Conflict):
    code = "payment_clearing"
    title = "Payments still clearing already cover what is owed"


class AmountExceedsBalance(Conflict):
    code = "amount_exceeds_balance"
    title = "The amount is more than what is owed"


class MethodNotAvailable(RequestValidationFailed):
    code = "payment_method_unavailable"
    title = "That way of paying is not available for this lease's currency"


class AmountTooSmall(RequestValidationFailed):
    code = "amount_too_small"
    title = "The amount is below the smallest online payment"


class OnlinePaymentNotFound(NotFound):
    code = "online_payment_not_found"
    title = "No such online payment"


class InvalidWebhookSignature(BadRequest):
    code = "invalid_signature"
    title = "The request is not signed by Stripe with a secret of ours"


class InvalidWebhookPayload(BadRequest):
    code = "invalid_payload"
    title = "The request body is not a Stripe event"


class PaymentProviderError(AppError):
    status = 502
    code = "payment_provider_error"
    title = "The payment provider refused the request"


class PaymentProviderUnavailable(ServiceUnavailable):
    code = "payment_provider_unavailable"
    title = "The payment provider cannot be reached; try again shortly"


class RefundNotFound(NotFound):
    code = "refund_not_found"
    title = "No such refund"
