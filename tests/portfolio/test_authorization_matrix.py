"""Who may call which route with an id: every such route, every kind of caller.

One world is built per test: organization A (an owner, two managers, three
properties, three units, an active lease whose tenant has an account, a draft
lease, a pending tenant and a pending manager invitation), organization B
with its owner, a signed-in person on no lease, and a platform admin. Each
test then takes one caller through every route of ``ROUTES_WITH_AN_ID`` and
checks the answer against ``MATRIX``.

Every call runs inside a savepoint that is rolled back afterwards, so one
route's effect (an owner deleting the draft lease) never reaches the next. A
refusal is checked to be a problem document that gives nothing of A away, to
be answered exactly like an id that does not exist (for a 404), and to have
changed nothing: A's and B's rows, their audit events, the world's users,
sessions and security events, and the outbox and email counts are the same
after the call as before it.

Both tables are checked against the routes the app really serves, so a new
route with an id, or a new create or update body, fails here until it is
given its row.

The app runs with Stripe's keys set and Stripe faked at the HTTP layer, and
organization A is connected, so the payment routes answer as they would in
production rather than "payments not configured".
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.app import create_app
from asset_anchor.models import (
    AuthSession,
    Email,
    LedgerEntry,
    OnlinePayment,
    Organization,
    StripeRefund,
    User,
)
from asset_anchor.settings import Settings
from tests.accounts.conftest import PASSWORD
from tests.conftest import app_on, email_secrets
from tests.leases.factories import active_lease, draft_lease, lease_body, link_tenant
from tests.portfolio.conftest import (
    PROPERTY,
    Account,
    create_property,
    create_unit,
    make_landlord,
    make_tenant,
    ok,
)
from tests.support.fake_stripe import FakeStripe, with_stripe

Route = tuple[str, str]
Kind = Literal["staff", "owner_only", "my_lease", "own_session", "admin"]
Actor = Literal[
    "owner", "manager", "outsider", "stranger", "tenant", "admin", "anonymous"
]

API = "/api/v1"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "instance", "request_id"}
PROBLEM_JSON = "application/problem+json"


# --- the world ----------------------------------------------------------------


@pytest.fixture
async def app(settings: Settings, db: AsyncSession) -> AsyncIterator[FastAPI]:
    """The API with Stripe configured and faked (see the module's docstring)."""
    async with app_on(with_stripe(settings), db) as app:
        await app.state.http.aclose()
        app.state.http = FakeStripe().client()
        yield app


@dataclass
class World:
    organization_id: str
    owner: Account
    manager: Account
    colleague: Account
    outsider: Account
    stranger: Account
    tenant: Account
    admin: Account
    property_id: str
    spare_property_id: str
    archived_property_id: str
    unit_id: str
    spare_unit_id: str
    archived_unit_id: str
    lease_id: str
    draft_lease_id: str
    cotenant_id: str
    tenant_invitation_id: str
    manager_invitation_id: str
    manager_invitation_token: str
    owner_session_id: str
    past_lease_id: str
    charge_id: str
    payment_id: str
    late_fee_id: str
    refund_id: str
    organization_ids: list[uuid.UUID]
    user_ids: list[uuid.UUID]
    revealing: frozenset[str] = field(default_factory=frozenset)
    """A's ids, names and addresses: none may show in a refusal."""

    def headers(self, actor: Actor) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        caller: Account = getattr(self, actor)
        return caller.headers


def address(name: str) -> str:
    return f"{name}.{secrets.token_hex(4)}@example.test"


async def make_admin(db: AsyncSession, settings: Settings) -> Account:
    """A signed-in platform admin who belongs to no organization."""
    account = await make_tenant(db, settings, full_name="Ada Platform")
    user = await db.get(User, account.user_id)
    assert user is not None
    user.is_platform_admin = True
    await db.flush()
    return account


async def archive(api: httpx.AsyncClient, owner: Account, path: str) -> None:
    ok(await api.post(f"{API}{path}/archive", headers=owner.headers))


async def invite(
    api: httpx.AsyncClient, owner: Account, path: str, email: str, full_name: str
) -> dict[str, Any]:
    answer = await api.post(
        f"{API}{path}/invitations",
        json={"email": email, "full_name": full_name},
        headers=owner.headers,
    )
    return ok(answer, 201)  # type: ignore[no-any-return]


async def money(
    api: httpx.AsyncClient,
    owner: Account,
    lease_id: str,
    rest: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    answer = await api.post(
        f"{API}/leases/{lease_id}{rest}", json=body, headers=owner.headers
    )
    return ok(answer, 201)  # type: ignore[no-any-return]


async def late_fee_of(db: AsyncSession, owner: Account, lease_id: str) -> str:
    """A late fee as the schedule writes one: no route makes them by hand."""
    fee = LedgerEntry(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        lease_id=uuid.UUID(lease_id),
        entry_type="charge",
        category="late_fee",
        amount=2_500,
        currency="USD",
        effective_on=date(2026, 1, 7),
        fee_key="once",
        description="Late fee",
    )
    db.add(fee)
    await db.flush()
    return str(fee.id)


async def online_refund_of(
    db: AsyncSession, owner: Account, lease_id: str
) -> tuple[str, str]:
    """Organization A is connected to Stripe, and a card payment of its
    tenant's (in the ledger as Stripe's word writes one) has a refund asked
    of Stripe: the payment's entry id and the refund's id."""
    organization = await db.get(Organization, owner.organization_id)
    assert organization is not None
    organization.stripe_account_id = "acct_matrix_landlord"
    organization.stripe_charges_enabled = True
    entry = LedgerEntry(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        lease_id=uuid.UUID(lease_id),
        entry_type="payment",
        category="card",
        method="card",
        amount=1_000,
        currency="USD",
        effective_on=date(2026, 1, 3),
        external_id="pi_matrix_paid",
    )
    db.add(entry)
    await db.flush()
    online = OnlinePayment(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        lease_id=uuid.UUID(lease_id),
        amount=1_000,
        currency="USD",
        method="card",
        status="succeeded",
        stripe_payment_intent_id="pi_matrix_paid",
        ledger_entry_id=entry.id,
    )
    db.add(online)
    await db.flush()
    refund = StripeRefund(
        id=uuid.uuid4(),
        organization_id=owner.organization_id,
        online_payment_id=online.id,
        amount=500,
        reason="Paid twice",
        status="pending",
        stripe_refund_id="re_matrix_pending",
        requested_by_id=owner.user_id,
    )
    db.add(refund)
    await db.flush()
    return str(entry.id), str(refund.id)


async def build_world(
    api: httpx.AsyncClient, db: AsyncSession, settings: Settings
) -> World:
    owner = await make_landlord(db, settings, full_name="Avery Holloway")
    assert owner.organization_id is not None
    manager = await make_landlord(
        db,
        settings,
        organization_id=owner.organization_id,
        role="manager",
        full_name="Morgan Whitfield",
    )
    colleague = await make_landlord(
        db,
        settings,
        organization_id=owner.organization_id,
        role="manager",
        full_name="Casey Brandt",
    )
    outsider = await make_landlord(db, settings, full_name="Blake Outsider")
    assert outsider.organization_id is not None
    stranger = await make_tenant(db, settings, full_name="Robin Stranger")
    tenant = await make_tenant(db, settings, full_name="Dana Okafor")
    admin = await make_admin(db, settings)

    main = await create_property(api, owner, name="Alder Court")
    spare = await create_property(api, owner, name="Birch House")
    retired = await create_property(api, owner, name="Cedar Lot")
    await archive(api, owner, f"/properties/{retired['id']}")
    let_unit = await create_unit(api, owner, main["id"], label="Garden Flat 1A")
    empty_unit = await create_unit(api, owner, main["id"], label="Garden Flat 1B")
    old_unit = await create_unit(api, owner, main["id"], label="Garden Flat 1C")
    await archive(api, owner, f"/units/{old_unit['id']}")

    lease = await active_lease(
        api,
        owner,
        let_unit["id"],
        tenants=[
            {"full_name": "Dana Okafor", "email": tenant.email},
            {"full_name": "Ari Lindqvist"},
        ],
        notes="Internal: pays late",
    )
    names = {one["full_name"]: one["id"] for one in lease["tenants"]}
    await link_tenant(db, names["Dana Okafor"], tenant.user_id)
    draft = await draft_lease(
        api,
        owner,
        let_unit["id"],
        tenants=[{"full_name": "Jesse Marlowe"}],
        start_date="2027-01-01",
        end_date="2027-12-31",
    )
    charged = await money(
        api,
        owner,
        lease["id"],
        "/charges",
        {"amount": 5_000, "due_on": "2026-01-01", "description": "Replacement fob"},
    )
    paid = await money(
        api, owner, lease["id"], "/payments", {"amount": 5_000, "method": "check"}
    )
    fee = await late_fee_of(db, owner, lease["id"])
    card_paid, refund_id = await online_refund_of(db, owner, lease["id"])
    moved_out_unit = await create_unit(api, owner, main["id"], label="Garden Flat 1D")
    past = await active_lease(
        api,
        owner,
        moved_out_unit["id"],
        tenants=[{"full_name": "Morgan Former"}],
        start_date="2025-01-01",
        end_date="2025-12-31",
    )
    await money(
        api,
        owner,
        past["id"],
        "/charges",
        {
            "amount": 80_000,
            "due_on": "2025-01-01",
            "category": "deposit",
            "description": "Security deposit",
        },
    )
    await money(
        api, owner, past["id"], "/payments", {"amount": 80_000, "method": "check"}
    )
    ok(await api.post(f"{API}/leases/{past['id']}/end", json={}, headers=owner.headers))
    sam, quinn = address("sam"), address("quinn")
    tenant_invitation = await invite(
        api, owner, f"/leases/{lease['id']}", sam, "Sam Newcomer"
    )
    manager_invitation = await invite(
        api, owner, f"/organizations/{owner.organization_id}", quinn, "Quinn Prospect"
    )
    invitation_email = await db.scalar(select(Email).where(Email.to_address == quinn))
    assert invitation_email is not None
    owner_session_id = await db.scalar(
        select(AuthSession.id).where(AuthSession.user_id == owner.user_id)
    )
    organization = ok(
        await api.get(
            f"{API}/organizations/{owner.organization_id}", headers=owner.headers
        )
    )
    leases = [
        ok(await api.get(f"{API}/leases/{one}", headers=owner.headers))
        for one in (lease["id"], draft["id"], past["id"])
    ]
    staff = (owner, manager, colleague)

    return World(
        organization_id=str(owner.organization_id),
        owner=owner,
        manager=manager,
        colleague=colleague,
        outsider=outsider,
        stranger=stranger,
        tenant=tenant,
        admin=admin,
        property_id=main["id"],
        spare_property_id=spare["id"],
        archived_property_id=retired["id"],
        unit_id=let_unit["id"],
        spare_unit_id=empty_unit["id"],
        archived_unit_id=old_unit["id"],
        lease_id=lease["id"],
        draft_lease_id=draft["id"],
        cotenant_id=names["Ari Lindqvist"],
        tenant_invitation_id=tenant_invitation["id"],
        manager_invitation_id=manager_invitation["id"],
        manager_invitation_token=email_secrets(invitation_email)["token"],
        owner_session_id=str(owner_session_id),
        past_lease_id=past["id"],
        charge_id=charged["id"],
        payment_id=paid["id"],
        late_fee_id=fee,
        refund_id=refund_id,
        organization_ids=[owner.organization_id, outsider.organization_id],
        user_ids=[
            account.user_id for account in (*staff, outsider, stranger, tenant, admin)
        ],
        revealing=frozenset(
            {
                organization["id"],
                organization["name"],
                *(str(account.user_id) for account in staff),
                *(account.full_name for account in staff),
                *(account.email for account in staff),
                *(one["id"] for one in (main, spare, retired)),
                *(one["name"] for one in (main, spare, retired)),
                *(one["id"] for one in (let_unit, empty_unit, old_unit)),
                *(one["label"] for one in (let_unit, empty_unit, old_unit)),
                *(one["id"] for one in leases),
                *(person["id"] for one in leases for person in one["tenants"]),
                *(person["full_name"] for one in leases for person in one["tenants"]),
                "Internal: pays late",
                charged["id"],
                paid["id"],
                card_paid,
                refund_id,
                fee,
                "Replacement fob",
                moved_out_unit["id"],
                moved_out_unit["label"],
                tenant_invitation["id"],
                manager_invitation["id"],
                sam,
                quinn,
                "Quinn Prospect",
                str(owner_session_id),
            }
        ),
    )


# --- what each route is called with -------------------------------------------

Params = Callable[[World], dict[str, str]]
BodyOf = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One way to call a route: its ids, its body, its answer when allowed."""

    kind: Kind
    params: Params
    body: BodyOf | None = None
    success: int = 200
    label: str = ""


def _organization(w: World) -> dict[str, str]:
    return {"organization_id": w.organization_id}


def _property(w: World) -> dict[str, str]:
    return {"property_id": w.property_id}


def _unit(w: World) -> dict[str, str]:
    return {"unit_id": w.unit_id}


def _lease(w: World) -> dict[str, str]:
    return {"lease_id": w.lease_id}


def _draft(w: World) -> dict[str, str]:
    return {"lease_id": w.draft_lease_id}


def _cotenant(w: World) -> dict[str, str]:
    return {"lease_id": w.lease_id, "tenant_id": w.cotenant_id}


def _tenant_invitation(w: World) -> dict[str, str]:
    return {"invitation_id": w.tenant_invitation_id}


def _manager_invitation(w: World) -> dict[str, str]:
    return {"invitation_id": w.manager_invitation_id}


def _past_lease(w: World) -> dict[str, str]:
    return {"lease_id": w.past_lease_id}


def _charge(w: World) -> dict[str, str]:
    return {"entry_id": w.charge_id}


def _payment(w: World) -> dict[str, str]:
    return {"entry_id": w.payment_id}


def _late_fee(w: World) -> dict[str, str]:
    return {"entry_id": w.late_fee_id}


def _refund(w: World) -> dict[str, str]:
    return {"refund_id": w.refund_id}


def _owner_as_user(w: World) -> dict[str, str]:
    return {"user_id": str(w.owner.user_id)}


def _static(body: dict[str, Any]) -> BodyOf:
    return lambda _: body


CHARGE = {"amount": 1_200, "due_on": "2026-02-01", "description": "Lockout call"}
CREDIT = {"amount": 1_000, "description": "Goodwill"}
PAYMENT = {"amount": 3_000, "method": "cash"}
REFUND = {"amount": 1_000, "method": "cash", "reason": "Paid twice"}
REASON = {"reason": "Entered by mistake"}
ONLINE_PAYMENT = {"amount": 1_000, "method": "card"}


# Every (method, path) with an id under /api/v1, with how to call it. A
# route may have several cases when who may use it depends on the object
# (a manager may resend a tenant's invitation, not a manager's).
ROUTES_WITH_AN_ID: dict[Route, tuple[Case, ...]] = {
    # organizations and their members
    ("GET", "/api/v1/organizations/{organization_id}"): (Case("staff", _organization),),
    ("PATCH", "/api/v1/organizations/{organization_id}"): (
        Case("owner_only", _organization, _static({"name": "Holloway Holdings"})),
    ),
    ("GET", "/api/v1/organizations/{organization_id}/members"): (
        Case("staff", _organization),
    ),
    ("DELETE", "/api/v1/organizations/{organization_id}/members/{user_id}"): (
        Case(
            "owner_only",
            lambda w: {**_organization(w), "user_id": str(w.colleague.user_id)},
            success=204,
            label="another member",
        ),
    ),
    ("POST", "/api/v1/organizations/{organization_id}/ownership"): (
        Case(
            "owner_only",
            _organization,
            lambda w: {"user_id": str(w.colleague.user_id)},
        ),
    ),
    ("GET", "/api/v1/organizations/{organization_id}/audit-events"): (
        Case("owner_only", _organization),
    ),
    ("POST", "/api/v1/organizations/{organization_id}/invitations"): (
        Case(
            "owner_only",
            _organization,
            lambda _: {"email": address("jamie"), "full_name": "Jamie Applicant"},
            success=201,
        ),
    ),
    # properties and their units
    ("GET", "/api/v1/properties/{property_id}"): (Case("staff", _property),),
    ("PATCH", "/api/v1/properties/{property_id}"): (
        Case("staff", _property, _static({"name": "Alder Court East"})),
    ),
    ("DELETE", "/api/v1/properties/{property_id}"): (
        Case(
            "staff",
            lambda w: {"property_id": w.spare_property_id},
            success=204,
            label="a property without units",
        ),
    ),
    ("POST", "/api/v1/properties/{property_id}/archive"): (
        Case(
            "staff",
            lambda w: {"property_id": w.spare_property_id},
            label="a property without leases",
        ),
    ),
    ("POST", "/api/v1/properties/{property_id}/unarchive"): (
        Case(
            "staff",
            lambda w: {"property_id": w.archived_property_id},
            label="an archived property",
        ),
    ),
    ("GET", "/api/v1/properties/{property_id}/units"): (Case("staff", _property),),
    ("POST", "/api/v1/properties/{property_id}/units"): (
        Case("staff", _property, _static({"label": "Garden Flat 2A"}), success=201),
    ),
    ("GET", "/api/v1/units/{unit_id}"): (Case("staff", _unit),),
    ("PATCH", "/api/v1/units/{unit_id}"): (
        Case("staff", _unit, _static({"bedrooms": 3})),
    ),
    ("DELETE", "/api/v1/units/{unit_id}"): (
        Case(
            "staff",
            lambda w: {"unit_id": w.spare_unit_id},
            success=204,
            label="a unit that never had a lease",
        ),
    ),
    ("POST", "/api/v1/units/{unit_id}/archive"): (
        Case(
            "staff",
            lambda w: {"unit_id": w.spare_unit_id},
            label="a unit without a lease",
        ),
    ),
    ("POST", "/api/v1/units/{unit_id}/unarchive"): (
        Case(
            "staff",
            lambda w: {"unit_id": w.archived_unit_id},
            label="an archived unit",
        ),
    ),
    # leases, their life and their tenants
    ("GET", "/api/v1/leases/{lease_id}"): (Case("staff", _lease),),
    ("PATCH", "/api/v1/leases/{lease_id}"): (
        Case("staff", _draft, _static({"rent_amount": 160_000}), label="the draft"),
    ),
    ("DELETE", "/api/v1/leases/{lease_id}"): (
        Case("staff", _draft, success=204, label="the draft"),
    ),
    ("POST", "/api/v1/leases/{lease_id}/activate"): (
        Case("staff", _draft, label="the draft"),
    ),
    ("POST", "/api/v1/leases/{lease_id}/end"): (
        Case("staff", _lease, _static({"ended_on": "2026-12-31"})),
    ),
    ("POST", "/api/v1/leases/{lease_id}/terminate"): (
        Case(
            "staff",
            _lease,
            _static({"ended_on": "2026-06-30", "reason": "Moved abroad"}),
        ),
    ),
    ("POST", "/api/v1/leases/{lease_id}/renew"): (
        Case("staff", _lease, _static({}), success=201),
    ),
    ("POST", "/api/v1/leases/{lease_id}/tenants"): (
        Case("staff", _lease, _static({"full_name": "Lee Roommate"}), success=201),
    ),
    ("PATCH", "/api/v1/leases/{lease_id}/tenants/{tenant_id}"): (
        Case("staff", _cotenant, _static({"phone": "+1 503 555 0100"})),
    ),
    ("DELETE", "/api/v1/leases/{lease_id}/tenants/{tenant_id}"): (
        Case("staff", _cotenant, success=204),
    ),
    ("POST", "/api/v1/leases/{lease_id}/invitations"): (
        Case(
            "staff",
            _lease,
            lambda _: {"email": address("pat"), "full_name": "Pat Cotenant"},
            success=201,
        ),
    ),
    # invitations
    ("GET", "/api/v1/invitations/{invitation_id}"): (
        Case("staff", _tenant_invitation, label="a tenant invitation"),
        Case("staff", _manager_invitation, label="a manager invitation"),
    ),
    ("POST", "/api/v1/invitations/{invitation_id}/resend"): (
        Case("staff", _tenant_invitation, label="a tenant invitation"),
        Case("owner_only", _manager_invitation, label="a manager invitation"),
    ),
    ("POST", "/api/v1/invitations/{invitation_id}/revoke"): (
        Case("staff", _tenant_invitation, label="a tenant invitation"),
        Case("owner_only", _manager_invitation, label="a manager invitation"),
    ),
    # the ledger
    ("GET", "/api/v1/leases/{lease_id}/balance"): (Case("staff", _lease),),
    ("GET", "/api/v1/leases/{lease_id}/entries"): (Case("staff", _lease),),
    ("GET", "/api/v1/leases/{lease_id}/statement"): (Case("staff", _lease),),
    ("GET", "/api/v1/leases/{lease_id}/deposit"): (Case("staff", _lease),),
    ("POST", "/api/v1/leases/{lease_id}/charges"): (
        Case("staff", _lease, _static(CHARGE), success=201),
    ),
    ("POST", "/api/v1/leases/{lease_id}/credits"): (
        Case("staff", _lease, _static(CREDIT), success=201),
    ),
    ("POST", "/api/v1/leases/{lease_id}/payments"): (
        Case("staff", _lease, _static(PAYMENT), success=201),
    ),
    ("POST", "/api/v1/leases/{lease_id}/deposit/disposition"): (
        Case("staff", _past_lease, _static({}), label="the ended lease"),
    ),
    ("GET", "/api/v1/entries/{entry_id}"): (Case("staff", _charge),),
    ("POST", "/api/v1/entries/{entry_id}/reverse"): (
        Case("staff", _charge, _static(REASON), success=201),
    ),
    ("POST", "/api/v1/entries/{entry_id}/waive"): (
        Case("staff", _late_fee, _static(REASON), success=201),
    ),
    ("POST", "/api/v1/entries/{entry_id}/refunds"): (
        Case("staff", _payment, _static(REFUND), success=201),
    ),
    # the tenant portal
    ("GET", "/api/v1/me/leases/{lease_id}"): (Case("my_lease", _lease),),
    ("GET", "/api/v1/me/leases/{lease_id}/balance"): (Case("my_lease", _lease),),
    ("GET", "/api/v1/me/leases/{lease_id}/entries"): (Case("my_lease", _lease),),
    ("GET", "/api/v1/me/leases/{lease_id}/statement"): (Case("my_lease", _lease),),
    ("GET", "/api/v1/me/leases/{lease_id}/payments"): (Case("my_lease", _lease),),
    ("POST", "/api/v1/me/leases/{lease_id}/payments"): (
        Case("my_lease", _lease, _static(ONLINE_PAYMENT), success=201),
    ),
    # online payments, landlord side
    ("GET", "/api/v1/organizations/{organization_id}/stripe"): (
        Case("staff", _organization),
    ),
    ("POST", "/api/v1/organizations/{organization_id}/stripe/onboarding"): (
        Case("owner_only", _organization),
    ),
    ("GET", "/api/v1/refunds/{refund_id}"): (Case("staff", _refund),),
    ("GET", "/api/v1/leases/{lease_id}/online-payments"): (Case("staff", _lease),),
    # accounts: a session of the owner's, and the owner as an admin's target
    ("DELETE", "/api/v1/auth/sessions/{session_id}"): (
        Case(
            "own_session",
            lambda w: {"session_id": w.owner_session_id},
            label="the owner's session",
        ),
    ),
    ("POST", "/api/v1/admin/users/{user_id}/unlock"): (Case("admin", _owner_as_user),),
    ("POST", "/api/v1/admin/users/{user_id}/deactivate"): (
        Case("admin", _owner_as_user),
    ),
    ("POST", "/api/v1/admin/users/{user_id}/reactivate"): (
        Case("admin", _owner_as_user),
    ),
    ("PATCH", "/api/v1/admin/organizations/{organization_id}"): (
        Case("admin", _organization, _static({"platform_fee_bps": 150})),
    ),
}


# --- who gets what --------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str | None = None
    """None: the route's own "not found" code, whatever a missing id gets."""


ALLOWED: Final = "allowed"
Outcome = Refusal | Literal["allowed"]

MISSING = Refusal(404)
OWNER_ONLY = Refusal(403, "owner_only")
ADMIN_ONLY = Refusal(403, "admin_only")
NO_SUCH_SESSION = Refusal(404, "session_not_found")
NO_SUCH_LEASE = Refusal(404, "lease_not_found")
SIGN_IN = Refusal(401, "not_authenticated")

MATRIX: dict[Actor, dict[Kind, Outcome]] = {
    "owner": {
        "staff": ALLOWED,
        "owner_only": ALLOWED,
        "my_lease": NO_SUCH_LEASE,
        "own_session": ALLOWED,
        "admin": ADMIN_ONLY,
    },
    "manager": {
        "staff": ALLOWED,
        "owner_only": OWNER_ONLY,
        "my_lease": NO_SUCH_LEASE,
        "own_session": NO_SUCH_SESSION,
        "admin": ADMIN_ONLY,
    },
    # The owner of organization B.
    "outsider": {
        "staff": MISSING,
        "owner_only": MISSING,
        "my_lease": NO_SUCH_LEASE,
        "own_session": NO_SUCH_SESSION,
        "admin": ADMIN_ONLY,
    },
    # Signed in, on no lease and in no organization.
    "stranger": {
        "staff": MISSING,
        "owner_only": MISSING,
        "my_lease": NO_SUCH_LEASE,
        "own_session": NO_SUCH_SESSION,
        "admin": ADMIN_ONLY,
    },
    # On A's active lease, with an account.
    "tenant": {
        "staff": MISSING,
        "owner_only": MISSING,
        "my_lease": ALLOWED,
        "own_session": NO_SUCH_SESSION,
        "admin": ADMIN_ONLY,
    },
    # A platform admin acts through the admin API only.
    "admin": {
        "staff": MISSING,
        "owner_only": MISSING,
        "my_lease": NO_SUCH_LEASE,
        "own_session": NO_SUCH_SESSION,
        "admin": ALLOWED,
    },
    "anonymous": {
        "staff": SIGN_IN,
        "owner_only": SIGN_IN,
        "my_lease": SIGN_IN,
        "own_session": SIGN_IN,
        "admin": SIGN_IN,
    },
}


# --- discovering the routes -----------------------------------------------------


def served_routes(app: FastAPI) -> Iterator[tuple[Route, Any]]:
    """Every (method, path) the app serves, with its route.

    Included routers stay nested in ``app.routes``; ``iter_route_contexts``
    flattens them, with the prefixes applied.
    """
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        assert context.path_format is not None
        for method in sorted(context.methods or ()):
            yield (method, context.path_format), context


def routes_with_an_id(app: FastAPI) -> set[Route]:
    return {
        route
        for route, _ in served_routes(app)
        if route[1].startswith(f"{API}/") and "{" in route[1]
    }


# --- calling and checking -------------------------------------------------------


@asynccontextmanager
async def rolled_back(db: AsyncSession) -> AsyncIterator[None]:
    """Whatever happens inside is undone: the next call meets the same world."""
    savepoint = await db.begin_nested()
    try:
        yield
    finally:
        await savepoint.rollback()


SNAPSHOT = text(
    """
    SELECT 'organizations', row_to_json(r)::text
      FROM organizations r WHERE r.id = ANY(:orgs)
    UNION ALL SELECT 'organization_memberships', row_to_json(r)::text
      FROM organization_memberships r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'properties', row_to_json(r)::text
      FROM properties r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'units', row_to_json(r)::text
      FROM units r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'leases', row_to_json(r)::text
      FROM leases r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'lease_tenants', row_to_json(r)::text
      FROM lease_tenants r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'invitations', row_to_json(r)::text
      FROM invitations r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'ledger_entries', row_to_json(r)::text
      FROM ledger_entries r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'allocations', row_to_json(r)::text
      FROM allocations r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'billing_notices', row_to_json(r)::text
      FROM billing_notices r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'online_payments', row_to_json(r)::text
      FROM online_payments r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'stripe_refunds', row_to_json(r)::text
      FROM stripe_refunds r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'idempotency_keys count', count(*)::text FROM idempotency_keys
    UNION ALL SELECT 'audit_events', row_to_json(r)::text
      FROM audit_events r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'audit_events count', count(*)::text
      FROM audit_events r WHERE r.organization_id = ANY(:orgs)
    UNION ALL SELECT 'users', row_to_json(r)::text
      FROM users r WHERE r.id = ANY(:users)
    UNION ALL SELECT 'auth_sessions', row_to_json(r)::text
      FROM auth_sessions r WHERE r.user_id = ANY(:users)
    UNION ALL SELECT 'security_events', row_to_json(r)::text
      FROM security_events r WHERE r.user_id = ANY(:users)
    UNION ALL SELECT 'outbox_jobs count', count(*)::text FROM outbox_jobs
    UNION ALL SELECT 'emails count', count(*)::text FROM emails
    ORDER BY 1, 2
    """
)


async def snapshot(db: AsyncSession, world: World) -> list[tuple[str, str]]:
    rows = await db.execute(
        SNAPSHOT, {"orgs": world.organization_ids, "users": world.user_ids}
    )
    return [(table, value) for table, value in rows]


def changed_tables(
    before: list[tuple[str, str]], after: list[tuple[str, str]]
) -> list[str]:
    difference = (Counter(before) - Counter(after)) + (Counter(after) - Counter(before))
    return sorted({table for table, _ in difference})


@dataclass
class Call:
    method: str
    template: str
    case: Case
    actor: Actor

    def name(self, path: str) -> str:
        label = f" [{self.case.label}]" if self.case.label else ""
        return f"{self.method} {self.template}{label} as {self.actor} ({path})"


async def send(
    api: httpx.AsyncClient,
    world: World,
    call: Call,
    params: dict[str, str],
) -> tuple[str, httpx.Response]:
    path = call.template.format(**params)
    body = call.case.body(world) if call.case.body else None
    answer = await api.request(
        call.method, path, json=body, headers=world.headers(call.actor)
    )
    return path, answer


def problem_failures(
    name: str, path: str, answer: httpx.Response, refusal: Refusal, world: World
) -> list[str]:
    """What is wrong with a refusal's answer, if anything."""
    if answer.status_code != refusal.status:
        return [
            f"{name}: expected {refusal.status}, got {answer.status_code}: "
            f"{answer.text[:500]}"
        ]
    found: list[str] = []
    if not answer.headers.get("content-type", "").startswith(PROBLEM_JSON):
        found.append(f"{name}: not a problem document: {answer.headers}")
        return found
    problem = answer.json()
    if set(problem) != PROBLEM_KEYS:
        found.append(f"{name}: problem fields {sorted(problem)}")
    if refusal.code is not None and problem.get("code") != refusal.code:
        found.append(f"{name}: code {problem.get('code')!r}, not {refusal.code!r}")
    if problem.get("instance") != path:
        found.append(f"{name}: instance {problem.get('instance')!r}")
    # The instance repeats the path the caller sent; nothing else may name A.
    rest = answer.text.replace(path, "")
    leaked = sorted(value for value in world.revealing if value in rest)
    if leaked:
        found.append(f"{name}: the answer shows {leaked}: {answer.text}")
    return found


async def failures_of(
    api: httpx.AsyncClient, db: AsyncSession, world: World, call: Call
) -> list[str]:
    """Call the route once as the actor, and say what went against the matrix."""
    outcome = MATRIX[call.actor][call.case.kind]
    params = call.case.params(world)
    async with rolled_back(db):
        before = await snapshot(db, world)
        path, answer = await send(api, world, call, params)
        after = await snapshot(db, world)
    name = call.name(path)

    if not isinstance(outcome, Refusal):
        if answer.status_code != call.case.success:
            return [
                f"{name}: expected {call.case.success}, got {answer.status_code}: "
                f"{answer.text[:500]}"
            ]
        return []

    found = problem_failures(name, path, answer, outcome, world)
    changed = changed_tables(before, after)
    if changed:
        found.append(f"{name}: answered {answer.status_code} but changed {changed}")
    if answer.status_code == outcome.status == 404 and not found:
        # Answered exactly as ids that do not exist: no way to tell A's apart.
        made_up = {key: str(uuid.uuid4()) for key in params}
        async with rolled_back(db):
            _, missing = await send(api, world, call, made_up)
        seen = {
            key: answer.json()[key] for key in ("status", "code", "title", "detail")
        }
        if missing.status_code != 404 or seen != {
            key: missing.json()[key] for key in seen
        }:
            found.append(f"{name}: {seen}, but for made-up ids {missing.text}")
    return found


def all_calls(actor: Actor) -> Iterator[Call]:
    for (method, template), cases in ROUTES_WITH_AN_ID.items():
        for case in cases:
            yield Call(method, template, case, actor)


# --- the tests --------------------------------------------------------------------


class TestTheTablesAreComplete:
    def test_every_route_with_an_id_is_in_the_matrix(self, settings: Settings) -> None:
        served = routes_with_an_id(create_app(settings))

        assert served, "no routes found: are included routers still flattened?"
        assert served - set(ROUTES_WITH_AN_ID) == set(), "routes missing from the table"
        assert set(ROUTES_WITH_AN_ID) - served == set(), "routes the app no longer has"

    def test_the_discovered_routes_are_the_documented_ones(
        self, settings: Settings
    ) -> None:
        app = create_app(settings)

        documented = {
            (method.upper(), path)
            for path, operations in app.openapi()["paths"].items()
            for method in operations
            if path.startswith(f"{API}/") and "{" in path
        }

        assert routes_with_an_id(app) == documented

    def test_every_create_and_update_body_is_in_the_table(
        self, settings: Settings
    ) -> None:
        served = set(routes_with_a_body(create_app(settings)))

        assert served - set(WITH_A_BODY) == set(), "bodies missing from the table"
        assert set(WITH_A_BODY) - served == set(), "bodies the app no longer takes"


class TestWhoMayCallEachRoute:
    @pytest.mark.parametrize("actor", list(MATRIX))
    async def test_every_route_with_an_id_answers_as_the_matrix_says(
        self,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        actor: Actor,
    ) -> None:
        world = await build_world(api, db, settings)

        found = [
            failure
            for call in all_calls(actor)
            for failure in await failures_of(api, db, world, call)
        ]

        assert not found, "\n".join(found)

    async def test_the_tenant_reads_their_own_lease(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        world = await build_world(api, db, settings)

        answer = ok(
            await api.get(
                f"{API}/me/leases/{world.lease_id}", headers=world.tenant.headers
            )
        )

        assert answer["id"] == world.lease_id
        assert "Internal: pays late" not in str(answer)

    async def test_a_manager_reads_what_the_organization_has(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        world = await build_world(api, db, settings)
        headers = world.manager.headers

        lease = ok(await api.get(f"{API}/leases/{world.lease_id}", headers=headers))
        unit = ok(await api.get(f"{API}/units/{world.unit_id}", headers=headers))
        invitation = ok(
            await api.get(
                f"{API}/invitations/{world.manager_invitation_id}", headers=headers
            )
        )
        members = ok(
            await api.get(
                f"{API}/organizations/{world.organization_id}/members",
                headers=headers,
            )
        )

        assert lease["id"] == world.lease_id
        assert unit["id"] == world.unit_id
        assert invitation["kind"] == "manager"
        names = [one["full_name"] for one in members["items"]]
        assert names[0] == "Avery Holloway"
        assert sorted(names[1:]) == ["Casey Brandt", "Morgan Whitfield"]

    async def test_another_organization_cannot_use_up_an_invitations_resends(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        # Three resends an hour are allowed per invitation; refused attempts
        # by someone the invitation does not exist for must not count.
        world = await build_world(api, db, settings)
        path = f"{API}/invitations/{world.tenant_invitation_id}/resend"
        refused = [
            (await api.post(path, headers=world.outsider.headers)).status_code
            for _ in range(3)
        ]

        answer = await api.post(path, headers=world.owner.headers)

        assert refused == [404, 404, 404]
        assert answer.status_code == 200, f"POST {path} as owner: {answer.text}"


# --- protected fields in bodies ---------------------------------------------------

PROTECTED_FIELDS = (
    "organization_id",
    "id",
    "status",
    "role",
    "user_id",
    "created_by_id",
)
BODY_DOMAINS = (
    "organizations",
    "properties",
    "units",
    "leases",
    "invitations",
    "entries",
)


def routes_with_a_body(app: FastAPI) -> dict[Route, type[BaseModel]]:
    """The POST and PATCH routes of the portfolio that take a JSON body."""
    found: dict[Route, type[BaseModel]] = {}
    for route, context in served_routes(app):
        method, path = route
        if method not in ("POST", "PATCH") or context.body_field is None:
            continue
        if path.split("/")[3] in BODY_DOMAINS:
            found[route] = context.body_field.field_info.annotation
    return found


@dataclass(frozen=True)
class Write:
    """A body the route accepts, and who sends it."""

    body: BodyOf
    params: Params = lambda _: {}
    success: int = 200
    anonymous: bool = False


WITH_A_BODY: dict[Route, Write] = {
    ("PATCH", "/api/v1/organizations/{organization_id}"): Write(
        _static({"name": "Holloway Holdings"}), _organization
    ),
    ("POST", "/api/v1/organizations/{organization_id}/ownership"): Write(
        lambda w: {"user_id": str(w.colleague.user_id)}, _organization
    ),
    ("POST", "/api/v1/organizations/{organization_id}/invitations"): Write(
        lambda _: {"email": address("jamie")}, _organization, success=201
    ),
    ("POST", "/api/v1/properties"): Write(_static(PROPERTY), success=201),
    ("PATCH", "/api/v1/properties/{property_id}"): Write(
        _static({"name": "Alder Court East"}), _property
    ),
    ("POST", "/api/v1/properties/{property_id}/units"): Write(
        _static({"label": "Garden Flat 2A"}), _property, success=201
    ),
    ("PATCH", "/api/v1/units/{unit_id}"): Write(_static({"bedrooms": 3}), _unit),
    ("POST", "/api/v1/leases"): Write(
        lambda w: lease_body(w.spare_unit_id), success=201
    ),
    ("PATCH", "/api/v1/leases/{lease_id}"): Write(
        _static({"rent_amount": 160_000}), _draft
    ),
    ("POST", "/api/v1/leases/{lease_id}/end"): Write(
        _static({"ended_on": "2026-12-31"}), _lease
    ),
    ("POST", "/api/v1/leases/{lease_id}/terminate"): Write(
        _static({"ended_on": "2026-06-30", "reason": "Moved abroad"}), _lease
    ),
    ("POST", "/api/v1/leases/{lease_id}/renew"): Write(
        _static({"rent_amount": 155_000}), _lease, success=201
    ),
    ("POST", "/api/v1/leases/{lease_id}/tenants"): Write(
        _static({"full_name": "Lee Roommate"}), _lease, success=201
    ),
    ("PATCH", "/api/v1/leases/{lease_id}/tenants/{tenant_id}"): Write(
        _static({"phone": "+1 503 555 0100"}), _cotenant
    ),
    ("POST", "/api/v1/leases/{lease_id}/invitations"): Write(
        lambda _: {"email": address("pat")}, _lease, success=201
    ),
    ("POST", "/api/v1/leases/{lease_id}/charges"): Write(
        _static(CHARGE), _lease, success=201
    ),
    ("POST", "/api/v1/leases/{lease_id}/credits"): Write(
        _static(CREDIT), _lease, success=201
    ),
    ("POST", "/api/v1/leases/{lease_id}/payments"): Write(
        _static(PAYMENT), _lease, success=201
    ),
    ("POST", "/api/v1/leases/{lease_id}/deposit/disposition"): Write(
        _static({}), _past_lease
    ),
    ("POST", "/api/v1/entries/{entry_id}/reverse"): Write(
        _static(REASON), _charge, success=201
    ),
    ("POST", "/api/v1/entries/{entry_id}/waive"): Write(
        _static(REASON), _late_fee, success=201
    ),
    ("POST", "/api/v1/entries/{entry_id}/refunds"): Write(
        _static(REFUND), _payment, success=201
    ),
    ("POST", "/api/v1/invitations/preview"): Write(
        lambda w: {"token": w.manager_invitation_token}, anonymous=True
    ),
    ("POST", "/api/v1/invitations/accept"): Write(
        lambda w: {
            "token": w.manager_invitation_token,
            "full_name": "Quinn Prospect",
            "password": PASSWORD,
        },
        anonymous=True,
    ),
}


def protected_values(world: World) -> dict[str, Any]:
    """What someone would send to move, promote or reassign a row."""
    return {
        "organization_id": str(world.outsider.organization_id),
        "id": str(uuid.uuid4()),
        "status": "active",
        "role": "owner",
        "user_id": str(world.outsider.user_id),
        "created_by_id": str(world.outsider.user_id),
    }


def declared_fields(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


class TestProtectedFields:
    @pytest.mark.parametrize(
        "route", list(WITH_A_BODY), ids=[f"{m} {p}" for m, p in WITH_A_BODY]
    )
    async def test_an_undeclared_protected_field_is_refused_and_nothing_is_written(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        db: AsyncSession,
        settings: Settings,
        route: Route,
    ) -> None:
        method, template = route
        write = WITH_A_BODY[route]
        model = routes_with_a_body(app)[route]
        world = await build_world(api, db, settings)
        path = template.format(**write.params(world))
        headers = {} if write.anonymous else world.owner.headers
        values = protected_values(world)
        undeclared = [
            name for name in PROTECTED_FIELDS if name not in declared_fields(model)
        ]
        found: list[str] = []

        for name in undeclared:
            body = {**write.body(world), name: values[name]}
            async with rolled_back(db):
                before = await snapshot(db, world)
                answer = await api.request(method, path, json=body, headers=headers)
                after = await snapshot(db, world)
            where = f"{method} {template} with {name!r}"
            if answer.status_code != 422:
                found.append(f"{where}: {answer.status_code} {answer.text[:300]}")
                continue
            errors = answer.json().get("errors") or []
            if not any(error["loc"] == ["body", name] for error in errors):
                found.append(f"{where}: the errors do not name it: {errors}")
            if changed := changed_tables(before, after):
                found.append(f"{where}: refused but changed {changed}")
        async with rolled_back(db):
            control = await api.request(
                method, path, json=write.body(world), headers=headers
            )

        assert undeclared, f"{method} {template} declares every protected field"
        assert not found, "\n".join(found)
        assert control.status_code == write.success, (
            f"{method} {template}: the table's body itself is refused: {control.text}"
        )

    async def test_a_lease_tenant_cannot_be_given_an_account_in_the_lease_body(
        self, api: httpx.AsyncClient, db: AsyncSession, settings: Settings
    ) -> None:
        world = await build_world(api, db, settings)
        body = lease_body(world.spare_unit_id)
        body["tenants"][0]["user_id"] = str(world.stranger.user_id)
        before = await snapshot(db, world)

        answer = await api.post(f"{API}/leases", json=body, headers=world.owner.headers)

        assert answer.status_code == 422
        assert ["body", "tenants", 0, "user_id"] in [
            error["loc"] for error in answer.json()["errors"]
        ]
        assert await snapshot(db, world) == before
