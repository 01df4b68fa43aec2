"""The errors of leases and their tenants, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import Conflict, NotFound, RequestValidationFailed


class LeaseNotFound(NotFound):
    code = "lease_not_found"
    title = "No such lease"


class LeaseTenantNotFound(NotFound):
    code = "lease_tenant_not_found"
    title = "No such tenant on this lease"


class LeaseNotDraft(Conflict):
    code = "lease_not_draft"
    title = "Only a draft lease can be changed this way"


class LeaseNotActive(Conflict):
    code = "lease_not_active"
    title = "Only an active lease can be ended or terminated"


class LeaseClosed(Conflict):
    code = "lease_closed"
    title = "The lease is over; its tenants can no longer be added or removed"


class LeaseOverlap(Conflict):
    code = "lease_overlap"
    title = "Another active lease of the unit covers some of these dates"


class LeaseEndsEarly(Conflict):
    code = "lease_ends_early"
    title = "That is before the lease's end date; terminate the lease instead"


class LeaseNotRenewable(Conflict):
    code = "lease_not_renewable"
    title = "Only an active or ended lease with an end date can be renewed"


class LeaseAlreadyRenewed(Conflict):
    code = "lease_already_renewed"
    title = "The lease already has a renewal"


class LeaseNeedsATenant(Conflict):
    code = "lease_needs_a_tenant"
    title = "A lease keeps at least one tenant"


class LeaseTenantLimit(Conflict):
    code = "lease_tenant_limit"
    title = "A lease has at most 10 tenants"


class LeaseDatesInvalid(RequestValidationFailed):
    code = "lease_dates_invalid"
    title = "The dates are out of order"


class LateFeeInvalid(RequestValidationFailed):
    code = "late_fee_invalid"
    title = "The late fee's fields do not fit its kind"


class EndedOnRequired(RequestValidationFailed):
    code = "ended_on_required"
    title = "A month-to-month lease needs the day it ends (ended_on)"


class RenewalStartsTooEarly(RequestValidationFailed):
    code = "renewal_starts_too_early"
    title = "A renewal starts after the end date of the lease it renews"
