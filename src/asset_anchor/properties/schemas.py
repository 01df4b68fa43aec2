"""Request and response bodies of properties and units."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    PlainSerializer,
    StringConstraints,
)

from asset_anchor.kit.fields import Body, Name
from asset_anchor.kit.money import Currency, MinorUnits

PropertyKind = Literal[
    "single_family",
    "multi_family",
    "apartment_building",
    "condominium",
    "townhouse",
    "mixed_use",
    "commercial",
    "other",
]
ListStatus = Literal["active", "archived", "all"]
AreaUnit = Literal["sqft", "sqm"]


@cache
def _zones() -> frozenset[str]:
    # The IANA names as the tzdata package lists them: the same on every
    # machine, and without the host's own entries ("localtime", "posixrules").
    listed = resources.files("tzdata").joinpath("zones").read_text()
    return frozenset(listed.split())


def _known_zone(value: str) -> str:
    # Checked against the IANA list itself, so no other string (a path, say)
    # ever reaches zoneinfo.
    if value not in _zones():
        raise ValueError("not an IANA timezone name such as America/Chicago")
    return value


Timezone = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["America/Chicago"]),
    AfterValidator(_known_zone),
]
Country = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 code.", examples=["US"]),
]
Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
]
PostalCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
]
UnitLabel = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(examples=["Apt 2B"]),
]
Bathrooms = Annotated[
    Decimal,
    Field(ge=0, le=100, multiple_of=Decimal("0.5"), examples=[1.5]),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class Address(Body):
    line1: Line
    line2: Line | None = None
    city: Short
    region: Short | None = Field(default=None, description="State, province or county.")
    postal_code: PostalCode | None = None
    country: Country


class PropertyIn(Body):
    name: Name
    kind: PropertyKind
    address: Address
    timezone: Timezone = Field(
        description="Rent due dates and late fees are reckoned in this timezone."
    )


class PropertyUpdate(Body):
    """Only the fields sent change; ``address`` is replaced as a whole."""

    name: Name | None = None
    kind: PropertyKind | None = None
    address: Address | None = None
    timezone: Timezone | None = None


class PropertyOut(BaseModel):
    id: uuid.UUID
    name: str
    kind: PropertyKind
    address: Address
    timezone: str
    unit_count: int = Field(description="Units in use (not archived).")
    archived_at: datetime | None
    created_at: datetime


class UnitIn(Body):
    label: UnitLabel
    bedrooms: int | None = Field(default=None, ge=0, le=100)
    bathrooms: Bathrooms | None = None
    area: int | None = Field(default=None, gt=0, le=10_000_000)
    area_unit: AreaUnit | None = Field(
        default=None, description="Required with `area`: square feet or metres."
    )
    market_rent_amount: MinorUnits | None = None
    currency: Currency | None = Field(
        default=None, description="Defaults to the organization's currency."
    )


class UnitUpdate(Body):
    """Only the fields sent change; send null to clear an optional one."""

    label: UnitLabel | None = None
    bedrooms: int | None = Field(default=None, ge=0, le=100)
    bathrooms: Bathrooms | None = None
    area: int | None = Field(default=None, gt=0, le=10_000_000)
    area_unit: AreaUnit | None = None
    market_rent_amount: MinorUnits | None = None
    currency: Currency | None = None


class UnitOut(BaseModel):
    id: uuid.UUID
    property_id: uuid.UUID
    label: str
    bedrooms: int | None
    bathrooms: Bathrooms | None
    area: int | None
    area_unit: AreaUnit | None
    market_rent_amount: int | None = Field(
        description="Asking rent in the currency's minor unit (cents for USD)."
    )
    currency: str
    archived_at: datetime | None
    created_at: datetime
