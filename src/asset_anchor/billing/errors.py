"""The errors of the rent ledger, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RequestValidationFailed,
)


class EntryNotFound(NotFound):
    code = "ledger_entry_not_found"
    title = "No such ledger entry"


class LeaseNotInForce(Conflict):
    code = "lease_not_in_force"
    title = "The lease is a draft; activate it before recording money on it"


class AlreadyReversed(Conflict):
    code = "entry_already_reversed"
    title = "That entry has been reversed already"


class NotReversible(Conflict):
    code = "entry_not_reversible"
    title = "That entry cannot be reversed"


class HasRefunds(Conflict):
    code = "entry_has_refunds"
    title = "Reverse the refunds of this payment first"


class NotWaivable(Conflict):
    code = "charge_not_waivable"
    title = "Only an open late fee can be waived"


class RefundTooLarge(Conflict):
    code = "refund_exceeds_payment"
    title = "The refund is more than what is left of the payment"


class RefundMethodRequired(RequestValidationFailed):
    code = "refund_method_required"
    title = "Say how the money of an offline payment was given back (`method`)"


class NothingHeld(Conflict):
    code = "no_deposit_held"
    title = "No security deposit is held for this lease"


class DeductionsExceedDeposit(Conflict):
    code = "deductions_exceed_deposit"
    title = "The deductions are more than the deposit held"


class LeaseStillActive(Conflict):
    code = "lease_still_active"
    title = "The deposit is disposed of at move-out: end the lease first"


class StatementPeriodInvalid(BadRequest):
    code = "statement_period_invalid"
    title = "The statement's `from` date is after its `to` date"


class ReportTooLarge(BadRequest):
    code = "report_too_large"
    title = "The report has too many rows; filter it by property"
