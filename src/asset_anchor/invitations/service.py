"""Invitations: a manager to the organization, a tenant to a lease.

The organization invites an address; the worker emails a single-use link
whose token is stored only as its SHA-256 (the email keeps it encrypted until
sent). Resending makes a new token and voids the old one. Accepting attaches
the account to the organization's staff or to the lease: an existing user
accepts while signed in; someone new chooses a password, and their address
counts as confirmed because the link reached it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from asset_anchor.accounts import service as accounts
from asset_anchor.accounts.auth import Principal
from asset_anchor.accounts.limits import AuthGuard
from asset_anchor.accounts.tokens import new_opaque_token, token_hash
from asset_anchor.audit import service as audit
from asset_anchor.email.service import queue_email
from asset_anchor.invitations.errors import (
    AlreadyMember,
    AlreadyOnLease,
    InvitationAlreadyAccepted,
    InvitationExpired,
    InvitationForAnotherAccount,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
    InvitationRevoked,
    PasswordRequired,
    SignInRequired,
)
from asset_anchor.invitations.schemas import (
    InvitationOut,
    InvitationPreview,
    InvitationStatus,
)
from asset_anchor.kit.email_address import normalize_address
from asset_anchor.kit.pagination import Order, SortColumn, Sorting, cut_page, paginate
from asset_anchor.kit.passwords import hash_password
from asset_anchor.kit.ratelimit import Limit
from asset_anchor.kit.time import utc_now
from asset_anchor.leases.errors import LeaseClosed, LeaseNotFound
from asset_anchor.models import (
    Invitation,
    Lease,
    LeaseTenant,
    Organization,
    OrganizationMembership,
    Property,
    Unit,
    User,
)
from asset_anchor.organizations import service as organizations
from asset_anchor.organizations.errors import OrganizationNotFound
from asset_anchor.organizations.scope import StaffScope, get_owned, owned
from asset_anchor.settings import Settings

# Invitations email addresses the organization types in: bounded, so that a
# compromised staff account cannot turn the service into a mailer. Counted
# only once the caller is known to be allowed, so nobody else can use them up.
SENT_PER_ORGANIZATION = Limit(
    "invitations-organization", max_hits=200, window_seconds=60 * 60
)
RESENT_PER_INVITATION = Limit("invitation-resend", max_hits=3, window_seconds=60 * 60)

INVITATION_SORTING = Sorting(
    columns={"created_at": SortColumn(Invitation.created_at, "datetime")},
    default="-created_at",
    id_column=Invitation.id,
)


@dataclass(frozen=True)
class Accepted:
    invitation: Invitation
    tokens: accounts.IssuedTokens | None


def status_of(invitation: Invitation) -> InvitationStatus:
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= utc_now():
        return "expired"
    return "pending"


def _status_condition(status: InvitationStatus) -> Any:
    now = utc_now()
    open_ = and_(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
    return {
        "accepted": Invitation.accepted_at.is_not(None),
        "revoked": and_(
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_not(None)
        ),
        "expired": and_(open_, Invitation.expires_at <= now),
        "pending": and_(open_, Invitation.expires_at > now),
    }[status]


def invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        kind=invitation.kind,
        status=status_of(invitation),
        email=invitation.email,
        full_name=invitation.full_name,
        lease_id=invitation.lease_id,
        lease_tenant_id=invitation.lease_tenant_id,
        invited_by_id=invitation.invited_by_id,
        expires_at=invitation.expires_at,
        last_sent_at=invitation.last_sent_at,
        send_count=invitation.send_count,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
        created_at=invitation.created_at,
    )


# --- sending ----------------------------------------------------------------


async def _email_context(
    session: AsyncSession, invitation: Invitation, settings: Settings
) -> dict[str, Any]:
    organization = await session.get(Organization, invitation.organization_id)
    inviter = (
        await session.get(User, invitation.invited_by_id)
        if invitation.invited_by_id
        else None
    )
    assert organization is not None
    context: dict[str, Any] = {
        "organization_name": organization.name,
        "inviter_name": inviter.full_name if inviter else organization.name,
        "expires_days": settings.invitation_ttl_days,
    }
    if invitation.lease_id is not None:
        row = await _unit_and_property(session, invitation.lease_id)
        context.update(unit_label=row.label, property_name=row.name)
    return context


async def _send(
    session: AsyncSession, settings: Settings, invitation: Invitation
) -> None:
    """A new token for the invitation, emailed by the worker; the old one dies."""
    raw = new_opaque_token()
    now = utc_now()
    invitation.token_hash = token_hash(raw)
    invitation.expires_at = now + timedelta(days=settings.invitation_ttl_days)
    invitation.last_sent_at = now
    queue_email(
        session,
        kind=f"{invitation.kind}_invitation",
        to_address=invitation.email,
        to_name=invitation.full_name,
        context=await _email_context(session, invitation, settings),
        secrets={"token": raw},
        settings=settings,
    )


async def _refuse_if_pending(
    session: AsyncSession, scope: StaffScope, condition: Any
) -> None:
    pending = await session.scalar(
        owned(scope, Invitation).where(condition, _status_condition("pending")).limit(1)
    )
    if pending is not None:
        raise InvitationPending(invitation_id=str(pending.id))


async def invite_manager(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    scope: StaffScope,
    organization_id: uuid.UUID,
    *,
    email: str,
    full_name: str | None,
) -> InvitationOut:
    """The owner invites someone to manage the organization with them."""
    if organization_id != scope.organization_id:
        raise OrganizationNotFound
    scope.require_owner()
    await guard.limit(SENT_PER_ORGANIZATION, str(scope.organization_id))
    normalized = normalize_address(email)
    member = await session.scalar(
        select(
            exists().where(
                OrganizationMembership.organization_id == scope.organization_id,
                OrganizationMembership.user_id == User.id,
                User.email_normalized == normalized,
            )
        )
    )
    if member:
        raise AlreadyMember
    await _refuse_if_pending(
        session,
        scope,
        and_(Invitation.kind == "manager", Invitation.email_normalized == normalized),
    )
    return await _create(
        session, settings, scope, kind="manager", email=email, full_name=full_name
    )


async def invite_tenant(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    scope: StaffScope,
    lease_id: uuid.UUID,
    *,
    email: str,
    full_name: str | None,
) -> InvitationOut:
    """Invite a tenant's address to a lease, as a person on it.

    A person already on the lease with that address (and no account linked)
    is the one invited; otherwise the invitation adds them to the lease.
    """
    lease = await get_owned(session, scope, Lease, lease_id, LeaseNotFound, lock=True)
    if lease.status in ("ended", "terminated"):
        raise LeaseClosed
    await guard.limit(SENT_PER_ORGANIZATION, str(scope.organization_id))
    normalized = normalize_address(email)
    on_lease = list(
        await session.scalars(
            owned(scope, LeaseTenant).where(LeaseTenant.lease_id == lease.id)
        )
    )
    linked = {row.user_id for row in on_lease if row.user_id is not None}
    if linked and await session.scalar(
        select(exists().where(User.id.in_(linked), User.email_normalized == normalized))
    ):
        raise AlreadyOnLease
    await _refuse_if_pending(
        session,
        scope,
        and_(
            Invitation.lease_id == lease.id, Invitation.email_normalized == normalized
        ),
    )
    tenant = next(
        (
            row
            for row in on_lease
            if row.user_id is None
            and row.email is not None
            and normalize_address(row.email) == normalized
        ),
        None,
    )
    if tenant is None:
        tenant = LeaseTenant(
            id=uuid.uuid4(),
            organization_id=scope.organization_id,
            lease_id=lease.id,
            full_name=full_name or email.partition("@")[0],
            email=email,
        )
        session.add(tenant)
        await session.flush()
        audit.record(
            session,
            organization_id=scope.organization_id,
            actor_id=scope.user_id,
            action="lease_tenant.added",
            entity_type="lease_tenant",
            entity_id=tenant.id,
            changes=audit.created(tenant, ("lease_id", "full_name", "email")),
        )
    return await _create(
        session,
        settings,
        scope,
        kind="tenant",
        email=email,
        full_name=full_name or tenant.full_name,
        lease_id=lease.id,
        lease_tenant_id=tenant.id,
    )


async def _create(
    session: AsyncSession,
    settings: Settings,
    scope: StaffScope,
    *,
    kind: str,
    email: str,
    full_name: str | None,
    lease_id: uuid.UUID | None = None,
    lease_tenant_id: uuid.UUID | None = None,
) -> InvitationOut:
    invitation = Invitation(
        id=uuid.uuid4(),
        organization_id=scope.organization_id,
        kind=kind,
        email=email,
        email_normalized=normalize_address(email),
        full_name=full_name,
        lease_id=lease_id,
        lease_tenant_id=lease_tenant_id,
        invited_by_id=scope.user_id,
        send_count=1,
    )
    await _send(session, settings, invitation)
    session.add(invitation)
    await session.flush()
    await session.refresh(invitation)
    audit.by_staff(
        session,
        scope,
        "invitation.created",
        invitation.id,
        audit.created(invitation, ("kind", "email", "lease_id", "expires_at")),
    )
    return invitation_out(invitation)


async def _pending_for_change(
    session: AsyncSession, scope: StaffScope, invitation_id: uuid.UUID
) -> Invitation:
    invitation = await get_owned(
        session, scope, Invitation, invitation_id, InvitationNotFound, lock=True
    )
    if invitation.kind == "manager":
        scope.require_owner()
    if status_of(invitation) != "pending":
        raise InvitationNotPending
    return invitation


async def resend(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    scope: StaffScope,
    invitation_id: uuid.UUID,
) -> InvitationOut:
    """Email a new link (the old one stops working) and start the time again.

    At most three times an hour for one invitation.
    """
    invitation = await _pending_for_change(session, scope, invitation_id)
    await guard.limit(RESENT_PER_INVITATION, str(invitation.id))
    before = invitation.expires_at
    await _send(session, settings, invitation)
    invitation.send_count += 1
    await session.flush()
    audit.by_staff(
        session,
        scope,
        "invitation.resent",
        invitation.id,
        {
            "expires_at": {
                "from": audit.json_value(before),
                "to": audit.json_value(invitation.expires_at),
            },
            "send_count": {
                "from": invitation.send_count - 1,
                "to": invitation.send_count,
            },
        },
    )
    return invitation_out(invitation)


async def revoke(
    session: AsyncSession, scope: StaffScope, invitation_id: uuid.UUID
) -> InvitationOut:
    """Withdraw a pending invitation: its link stops working at once."""
    invitation = await _pending_for_change(session, scope, invitation_id)
    changes = audit.apply_changes(invitation, {"revoked_at": utc_now()})
    await session.flush()
    audit.by_staff(session, scope, "invitation.revoked", invitation.id, changes)
    return invitation_out(invitation)


async def read(
    session: AsyncSession, scope: StaffScope, invitation_id: uuid.UUID
) -> InvitationOut:
    return invitation_out(
        await get_owned(session, scope, Invitation, invitation_id, InvitationNotFound)
    )


async def list_invitations(
    session: AsyncSession,
    scope: StaffScope,
    *,
    order: Order,
    kind: str | None,
    status: InvitationStatus | None,
    lease_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[InvitationOut], str | None]:
    statement = owned(scope, Invitation)
    if kind is not None:
        statement = statement.where(Invitation.kind == kind)
    if status is not None:
        statement = statement.where(_status_condition(status))
    if lease_id is not None:
        statement = statement.where(Invitation.lease_id == lease_id)
    rows = list(
        (await session.scalars(paginate(statement, order, cursor, limit))).all()
    )
    page, next_cursor = cut_page(
        rows, order, limit, lambda row: (row.created_at, row.id)
    )
    return [invitation_out(row) for row in page], next_cursor


# --- the invitee's side -----------------------------------------------------


async def _by_token(
    session: AsyncSession, token: str, *, lock: bool = False
) -> Invitation:
    statement = select(Invitation).where(Invitation.token_hash == token_hash(token))
    if lock:
        statement = statement.with_for_update()
    invitation = await session.scalar(statement)
    if invitation is None:
        raise InvitationNotFound("The link is not valid; ask for a new one.")
    return invitation


async def _unit_and_property(session: AsyncSession, lease_id: uuid.UUID) -> Any:
    """The ``label`` of a lease's unit and the ``name`` of its property."""
    return (
        await session.execute(
            select(Unit.label, Property.name)
            .select_from(Lease)
            .join(Unit, Unit.id == Lease.unit_id)
            .join(Property, Property.id == Lease.property_id)
            .where(Lease.id == lease_id)
        )
    ).one()


async def preview(session: AsyncSession, token: str) -> InvitationPreview:
    """What the token's holder is invited to, for the acceptance page."""
    invitation = await _by_token(session, token)
    organization = await session.get(Organization, invitation.organization_id)
    assert organization is not None
    property_name = unit_label = None
    if invitation.lease_id is not None:
        row = await _unit_and_property(session, invitation.lease_id)
        property_name, unit_label = row.name, row.label
    account = await accounts.user_by_email(session, invitation.email)
    return InvitationPreview(
        kind=invitation.kind,
        status=status_of(invitation),
        email=invitation.email,
        full_name=invitation.full_name,
        organization_name=organization.name,
        property_name=property_name,
        unit_label=unit_label,
        expires_at=invitation.expires_at,
        account_exists=account is not None,
    )


def _check_open(invitation: Invitation) -> None:
    status = status_of(invitation)
    if status == "accepted":
        raise InvitationAlreadyAccepted
    if status == "revoked":
        raise InvitationRevoked
    if status == "expired":
        raise InvitationExpired


async def accept(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str,
    caller: Principal | None,
    full_name: str | None,
    password: str | None,
    client: accounts.Client,
) -> Accepted:
    """Use an invitation once: attach the account, make one if need be."""
    invitation = await _by_token(session, token, lock=True)
    _check_open(invitation)
    existing = await accounts.user_by_email(session, invitation.email)
    tokens = None
    if caller is not None:
        if existing is not None and existing.id != caller.user_id:
            raise InvitationForAnotherAccount(
                "Sign in with the invited address to accept."
            )
        user = await accounts.get_user(session, caller.user_id)
        assert user is not None
    elif existing is not None:
        raise SignInRequired("Sign in with this address, then accept again.")
    else:
        user = await _new_account(
            session,
            invitation,
            full_name=full_name or invitation.full_name,
            password=password,
            client=client,
        )
        tokens = await accounts.start_session(
            session, settings, user, client, mfa_verified=False
        )

    if invitation.kind == "manager":
        await organizations.join(
            session,
            organization_id=invitation.organization_id,
            user_id=user.id,
            role="manager",
            invited_by=invitation.invited_by_id,
        )
    else:
        await _attach_tenant(session, invitation, user)
    invitation.accepted_at = utc_now()
    invitation.accepted_by_id = user.id
    await session.flush()
    audit.record(
        session,
        organization_id=invitation.organization_id,
        actor_id=user.id,
        action="invitation.accepted",
        entity_type="invitation",
        entity_id=invitation.id,
        changes={"accepted_by_id": {"from": None, "to": str(user.id)}},
    )
    return Accepted(invitation, tokens)


async def _new_account(
    session: AsyncSession,
    invitation: Invitation,
    *,
    full_name: str | None,
    password: str | None,
    client: accounts.Client,
) -> User:
    """The invitee's account: their address counts as confirmed by the link."""
    if not password:
        raise PasswordRequired("Choose a password for the new account.")
    name = (full_name or invitation.email.partition("@")[0]).strip()
    await accounts.check_password_strength(
        password, full_name=name, email=invitation.email
    )
    password_hash = await hash_password(password)
    now = utc_now()
    created = await session.scalar(
        insert(User)
        .values(
            id=uuid.uuid4(),
            email=invitation.email,
            email_normalized=invitation.email_normalized,
            full_name=name,
            password_hash=password_hash,
            password_changed_at=now,
            email_verified_at=now,
        )
        .on_conflict_do_nothing(index_elements=[User.email_normalized])
        .returning(User.id)
    )
    if created is None:
        # Someone made the account a moment ago (a sign-up, a second tab).
        raise SignInRequired("Sign in with this address, then accept again.")
    user = await accounts.get_user(session, created)
    assert user is not None
    accounts.record_event(
        session,
        "account_created",
        user_id=user.id,
        client=client,
        via="invitation",
        invitation_id=str(invitation.id),
    )
    return user


async def _attach_tenant(
    session: AsyncSession, invitation: Invitation, user: User
) -> None:
    lease = await session.scalar(
        select(Lease).where(Lease.id == invitation.lease_id).with_for_update()
    )
    tenant = await session.scalar(
        select(LeaseTenant)
        .where(LeaseTenant.id == invitation.lease_tenant_id)
        .with_for_update()
    )
    if lease is None or tenant is None:
        raise InvitationRevoked("The lease or the person on it was removed.")
    if lease.status in ("ended", "terminated"):
        raise LeaseClosed
    if tenant.user_id is not None and tenant.user_id != user.id:
        raise InvitationAlreadyAccepted
    on_lease = await session.scalar(
        select(
            exists().where(
                LeaseTenant.lease_id == lease.id,
                LeaseTenant.user_id == user.id,
                LeaseTenant.id != tenant.id,
            )
        )
    )
    if on_lease:
        raise AlreadyOnLease("This account is on the lease already.")
    tenant.user_id = user.id
    audit.record(
        session,
        organization_id=invitation.organization_id,
        actor_id=user.id,
        action="lease_tenant.linked",
        entity_type="lease_tenant",
        entity_id=tenant.id,
        changes={"user_id": {"from": None, "to": str(user.id)}},
    )
