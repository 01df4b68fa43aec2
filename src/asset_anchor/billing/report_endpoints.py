"""Reading the ledger, staff side: a lease's statement, the rent roll, the aging.

Each answers JSON, or with `format=csv` the same figures as a download.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from asset_anchor.accounts.auth import TokenExpiredError
from asset_anchor.billing import reports, statements
from asset_anchor.billing.errors import ReportTooLarge, StatementPeriodInvalid
from asset_anchor.billing.report_schemas import (
    AgingOut,
    FromDate,
    RentRollOut,
    ReportFormat,
    StatementOut,
    ToDate,
)
from asset_anchor.db import SessionDep
from asset_anchor.errors import Unauthorized, error_responses
from asset_anchor.kit.csv_export import csv_openapi, csv_response
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.errors import LeaseNotFound
from asset_anchor.leases.terms import local_today
from asset_anchor.organizations.scope import NotOrganizationMember, Staff, StaffLookup

statements_router = APIRouter(prefix="/api/v1/leases", tags=["leases"])
reports_router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

_SIGNED_IN = (Unauthorized, TokenExpiredError)

Month = Annotated[
    str,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="The calendar month, YYYY-MM.",
        examples=["2026-03"],
    ),
]
PropertyFilter = Annotated[
    uuid.UUID | None,
    Query(description="Only this property's leases (none, for another's)."),
]


@statements_router.get(
    "/{lease_id}/statement",
    name="statement_get",
    summary="A lease's statement",
    response_model=StatementOut,
    responses={
        **error_responses(*_SIGNED_IN, LeaseNotFound, StatementPeriodInvalid),
        **csv_openapi("The statement; with `format=csv`, as a download."),
    },
)
async def leases_statement_get(
    lease_id: uuid.UUID,
    scope: StaffLookup,
    session: SessionDep,
    from_date: FromDate = None,
    to_date: ToDate = None,
    output: ReportFormat = "json",
) -> Any:
    """Every entry effective in the period, oldest first, with the balance
    after each, between the opening and closing balances. A reversal is its
    own line, naming what it undoes; the undone line names its reversal. The
    deposit section shows what is held now and, after move-out, how it was
    settled. The tenants see the very same statement."""
    lease = await statements.staff_lease(session, scope, lease_id)
    today = local_today(lease.timezone, utc_now())
    shown = await statements.statement(
        session, lease, from_date=from_date, to_date=to_date, today=today
    )
    if output == "csv":
        return csv_response(
            statements.csv_filename(shown),
            statements.STATEMENT_HEADER,
            statements.statement_rows(shown),
        )
    return shown


_REPORT_ERRORS = (*_SIGNED_IN, NotOrganizationMember, ReportTooLarge)


@reports_router.get(
    "/rent-roll",
    name="rent_roll",
    summary="The rent roll of a month",
    response_model=RentRollOut,
    responses={
        **error_responses(*_REPORT_ERRORS),
        **csv_openapi("The rent roll; with `format=csv`, as a download."),
    },
)
async def reports_rent_roll(
    scope: Staff,
    session: SessionDep,
    month: Month,
    property_id: PropertyFilter = None,
    output: ReportFormat = "json",
) -> Any:
    """Each lease in force some day of the month (active and started by its
    end, or ended or terminated within or after it), by property and unit:
    its tenants, its rent, what was charged and paid in the month (net of
    what was voided, reversed or refunded in it), and its balance at the
    month's end. Totals are per currency.

    One document, not a page: every row is answered, built by one SQL
    statement whatever the number of leases; past 10,000 leases it is
    refused (`report_too_large`) and should be asked for per property.
    """
    report = await reports.rent_roll(
        session, scope, month=month, property_id=property_id
    )
    if output == "csv":
        return csv_response(
            f"rent-roll-{month}.csv",
            reports.RENT_ROLL_HEADER,
            reports.rent_roll_rows(report),
        )
    return report


@reports_router.get(
    "/aging",
    name="aging",
    summary="What is owed, by how late",
    response_model=AgingOut,
    responses={
        **error_responses(*_REPORT_ERRORS),
        **csv_openapi("The aging; with `format=csv`, as a download."),
    },
)
async def reports_aging(
    scope: Staff,
    session: SessionDep,
    property_id: PropertyFilter = None,
    output: ReportFormat = "json",
) -> Any:
    """Each lease with money open or unapplied: what its open charges still
    owe, by days past their due date as of today in the property's timezone
    (current, due today or later; 1 to 30; 31 to 60; 61 to 90; over 90), and the
    credit it has not yet applied. Totals are per currency.

    One document, not a page: every row is answered, built by one SQL
    statement whatever the number of leases; past 10,000 leases it is
    refused (`report_too_large`) and should be asked for per property.
    """
    now = utc_now()
    report = await reports.aging(session, scope, now=now, property_id=property_id)
    if output == "csv":
        return csv_response(
            f"aging-{now.date().isoformat()}.csv",
            reports.AGING_HEADER,
            reports.aging_rows(report),
        )
    return report
