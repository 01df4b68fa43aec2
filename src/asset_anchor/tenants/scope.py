"""The one place a tenant reaches leases: through their own place on them.

A signed-in user sees a lease while one of its tenant rows names them
(``LeaseTenant.user_id``), whichever organization it belongs to; every read
of the tenant portal starts from ``tenant_leases`` and adds no other
condition of its own. A lease they are not on simply does not exist for them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from asset_anchor.accounts.auth import Principal
from asset_anchor.models import Lease, LeaseTenant


def tenant_leases(caller: Principal, *columns: Any) -> Select[Any]:
    """``SELECT columns FROM leases …`` limited to the leases the caller is on."""
    return (
        select(*columns)
        .select_from(Lease)
        .where(
            Lease.id.in_(
                select(LeaseTenant.lease_id).where(
                    LeaseTenant.user_id == caller.user_id
                )
            )
        )
    )
