"""portfolio: properties, units, leases, tenants, invitations, audit log

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column(
            "changes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(
        "ix_audit_events_organization_id_created_at",
        "audit_events",
        ["organization_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_audit_events_organization_id_entity_id",
        "audit_events",
        ["organization_id", "entity_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "properties",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("address_line1", sa.String(length=200), nullable=False),
        sa.Column("address_line2", sa.String(length=200), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "country ~ '^[A-Z]{2}$'", name=op.f("ck_properties_country")
        ),
        sa.CheckConstraint(
            "kind IN ('single_family', 'multi_family', 'apartment_building', 'condominium', 'townhouse', 'mixed_use', 'commercial', 'other')",
            name=op.f("ck_properties_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_properties_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_properties")),
    )
    op.create_index(
        "ix_properties_organization_id_created_at",
        "properties",
        ["organization_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_properties_organization_id_name",
        "properties",
        ["organization_id", "name", "id"],
        unique=False,
    )
    op.create_table(
        "units",
        sa.Column("property_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("bedrooms", sa.SmallInteger(), nullable=True),
        sa.Column("bathrooms", sa.Numeric(precision=4, scale=1), nullable=True),
        sa.Column("area", sa.Integer(), nullable=True),
        sa.Column("area_unit", sa.String(length=4), nullable=True),
        sa.Column("market_rent_amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(area IS NULL) = (area_unit IS NULL) AND (area_unit IS NULL OR area_unit IN ('sqft', 'sqm'))",
            name=op.f("ck_units_area_unit"),
        ),
        sa.CheckConstraint("area IS NULL OR area > 0", name=op.f("ck_units_area")),
        sa.CheckConstraint(
            "bathrooms IS NULL OR (bathrooms BETWEEN 0 AND 100 AND bathrooms * 2 = trunc(bathrooms * 2))",
            name=op.f("ck_units_bathrooms"),
        ),
        sa.CheckConstraint(
            "bedrooms IS NULL OR bedrooms BETWEEN 0 AND 100",
            name=op.f("ck_units_bedrooms"),
        ),
        sa.CheckConstraint(
            "market_rent_amount IS NULL OR market_rent_amount >= 0",
            name=op.f("ck_units_market_rent_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_units_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["property_id"],
            ["properties.id"],
            name=op.f("fk_units_property_id_properties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
    )
    op.create_index(
        "ix_units_organization_id_created_at",
        "units",
        ["organization_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_units_organization_id_label",
        "units",
        ["organization_id", "label", "id"],
        unique=False,
    )
    op.create_index(
        "uq_units_property_id_label",
        "units",
        ["property_id", "label"],
        unique=True,
        postgresql_where=sa.text("archived_at IS NULL"),
    )
    op.create_table(
        "leases",
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("property_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            sa.String(length=16),
            server_default=sa.text("'draft'"),
            nullable=False,
        ),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("rent_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_day", sa.SmallInteger(), nullable=False),
        sa.Column(
            "security_deposit_amount",
            sa.BigInteger(),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column(
            "late_fee_grace_days",
            sa.SmallInteger(),
            server_default=sa.text("5"),
            nullable=False,
        ),
        sa.Column(
            "late_fee_kind", sa.String(length=8), server_default="none", nullable=False
        ),
        sa.Column("late_fee_flat_amount", sa.BigInteger(), nullable=True),
        sa.Column("late_fee_percent_bps", sa.Integer(), nullable=True),
        sa.Column(
            "late_fee_frequency",
            sa.String(length=8),
            server_default="once",
            nullable=False,
        ),
        sa.Column("late_fee_cap_amount", sa.BigInteger(), nullable=True),
        sa.Column("renewed_from_id", sa.Uuid(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termination_reason", sa.String(length=500), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(late_fee_kind = 'flat') = (late_fee_flat_amount IS NOT NULL) AND (late_fee_flat_amount IS NULL OR late_fee_flat_amount > 0)",
            name=op.f("ck_leases_late_fee_flat_amount"),
        ),
        sa.CheckConstraint(
            "(late_fee_kind = 'percent') = (late_fee_percent_bps IS NOT NULL) AND (late_fee_percent_bps IS NULL OR late_fee_percent_bps BETWEEN 1 AND 10000)",
            name=op.f("ck_leases_late_fee_percent_bps"),
        ),
        sa.CheckConstraint(
            "late_fee_frequency IN ('once', 'daily')",
            name=op.f("ck_leases_late_fee_frequency"),
        ),
        sa.CheckConstraint(
            "late_fee_kind IN ('none', 'flat', 'percent')",
            name=op.f("ck_leases_late_fee_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'ended', 'terminated')",
            name=op.f("ck_leases_status"),
        ),
        sa.CheckConstraint("due_day BETWEEN 1 AND 31", name=op.f("ck_leases_due_day")),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_leases_dates")
        ),
        sa.CheckConstraint(
            "late_fee_cap_amount IS NULL OR late_fee_cap_amount > 0",
            name=op.f("ck_leases_late_fee_cap_amount"),
        ),
        sa.CheckConstraint(
            "late_fee_grace_days BETWEEN 0 AND 60",
            name=op.f("ck_leases_late_fee_grace_days"),
        ),
        sa.CheckConstraint("rent_amount >= 0", name=op.f("ck_leases_rent_amount")),
        sa.CheckConstraint(
            "security_deposit_amount >= 0",
            name=op.f("ck_leases_security_deposit_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_leases_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_leases_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["property_id"],
            ["properties.id"],
            name=op.f("fk_leases_property_id_properties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["renewed_from_id"],
            ["leases.id"],
            name=op.f("fk_leases_renewed_from_id_leases"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_leases_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
    )
    op.create_index(
        "ix_leases_organization_id_created_at",
        "leases",
        ["organization_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_leases_organization_id_start_date",
        "leases",
        ["organization_id", "start_date", "id"],
        unique=False,
    )
    op.create_index("ix_leases_property_id", "leases", ["property_id"], unique=False)
    op.create_index(
        "ix_leases_unit_id_status", "leases", ["unit_id", "status"], unique=False
    )
    op.create_index(
        "uq_leases_renewed_from_id",
        "leases",
        ["renewed_from_id"],
        unique=True,
        postgresql_where=sa.text("renewed_from_id IS NOT NULL"),
    )
    op.create_table(
        "lease_tenants",
        sa.Column("lease_id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["leases.id"],
            name=op.f("fk_lease_tenants_lease_id_leases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_lease_tenants_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_lease_tenants_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lease_tenants")),
    )
    op.create_index(
        "ix_lease_tenants_lease_id", "lease_tenants", ["lease_id"], unique=False
    )
    op.create_index(
        "ix_lease_tenants_user_id",
        "lease_tenants",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_lease_tenants_lease_id_user_id",
        "lease_tenants",
        ["lease_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.create_table(
        "invitations",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_normalized", sa.String(length=320), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("lease_id", sa.Uuid(), nullable=True),
        sa.Column("lease_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "send_count", sa.SmallInteger(), server_default=sa.text("1"), nullable=False
        ),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(kind = 'tenant') = (lease_id IS NOT NULL) AND (lease_id IS NULL) = (lease_tenant_id IS NULL)",
            name=op.f("ck_invitations_tenant_has_lease"),
        ),
        sa.CheckConstraint(
            "kind IN ('manager', 'tenant')", name=op.f("ck_invitations_kind")
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"],
            ["users.id"],
            name=op.f("fk_invitations_accepted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["users.id"],
            name=op.f("fk_invitations_invited_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lease_id"],
            ["leases.id"],
            name=op.f("fk_invitations_lease_id_leases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lease_tenant_id"],
            ["lease_tenants.id"],
            name=op.f("fk_invitations_lease_tenant_id_lease_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(
        "ix_invitations_lease_id",
        "invitations",
        ["lease_id"],
        unique=False,
        postgresql_where=sa.text("lease_id IS NOT NULL"),
    )
    op.create_index(
        "ix_invitations_organization_id_created_at",
        "invitations",
        ["organization_id", "created_at", "id"],
        unique=False,
    )
    op.add_column(
        "organizations",
        sa.Column("contact_email", sa.String(length=320), nullable=True),
    )
    op.add_column(
        "organizations", sa.Column("contact_phone", sa.String(length=40), nullable=True)
    )
    op.add_column(
        "organizations",
        sa.Column("mailing_address", sa.String(length=500), nullable=True),
    )
    op.add_column(
        "organizations",
        sa.Column(
            "default_currency",
            sa.String(length=3),
            server_default=sa.text("'USD'"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("organizations", "default_currency")
    op.drop_column("organizations", "mailing_address")
    op.drop_column("organizations", "contact_phone")
    op.drop_column("organizations", "contact_email")
    op.drop_index("ix_invitations_organization_id_created_at", table_name="invitations")
    op.drop_index(
        "ix_invitations_lease_id",
        table_name="invitations",
        postgresql_where=sa.text("lease_id IS NOT NULL"),
    )
    op.drop_table("invitations")
    op.drop_index(
        "uq_lease_tenants_lease_id_user_id",
        table_name="lease_tenants",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index(
        "ix_lease_tenants_user_id",
        table_name="lease_tenants",
        postgresql_where=sa.text("user_id IS NOT NULL"),
    )
    op.drop_index("ix_lease_tenants_lease_id", table_name="lease_tenants")
    op.drop_table("lease_tenants")
    op.drop_index(
        "uq_leases_renewed_from_id",
        table_name="leases",
        postgresql_where=sa.text("renewed_from_id IS NOT NULL"),
    )
    op.drop_index("ix_leases_unit_id_status", table_name="leases")
    op.drop_index("ix_leases_property_id", table_name="leases")
    op.drop_index("ix_leases_organization_id_start_date", table_name="leases")
    op.drop_index("ix_leases_organization_id_created_at", table_name="leases")
    op.drop_table("leases")
    op.drop_index(
        "uq_units_property_id_label",
        table_name="units",
        postgresql_where=sa.text("archived_at IS NULL"),
    )
    op.drop_index("ix_units_organization_id_label", table_name="units")
    op.drop_index("ix_units_organization_id_created_at", table_name="units")
    op.drop_table("units")
    op.drop_index("ix_properties_organization_id_name", table_name="properties")
    op.drop_index("ix_properties_organization_id_created_at", table_name="properties")
    op.drop_table("properties")
    op.drop_index(
        "ix_audit_events_organization_id_entity_id", table_name="audit_events"
    )
    op.drop_index(
        "ix_audit_events_organization_id_created_at", table_name="audit_events"
    )
    op.drop_table("audit_events")
