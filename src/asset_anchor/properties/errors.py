"""The errors of properties and units, each with its stable code."""

from __future__ import annotations

from asset_anchor.errors import Conflict, NotFound, RequestValidationFailed


class PropertyNotFound(NotFound):
    code = "property_not_found"
    title = "No such property"


class UnitNotFound(NotFound):
    code = "unit_not_found"
    title = "No such unit"


class PropertyInUse(Conflict):
    code = "property_in_use"
    title = "The property has units; archive it instead"


class PropertyArchived(Conflict):
    code = "property_archived"
    title = "The property is archived"


class UnitInUse(Conflict):
    code = "unit_in_use"
    title = "The unit has leases; archive it instead"


class UnitArchived(Conflict):
    code = "unit_archived"
    title = "The unit is archived"


class UnitHasActiveLease(Conflict):
    code = "unit_has_active_lease"
    title = "The unit has an active lease"


class UnitLabelTaken(Conflict):
    code = "unit_label_taken"
    title = "Another unit of this property has that label"


class AreaUnitRequired(RequestValidationFailed):
    code = "area_unit_required"
    title = "Give an area together with its unit (sqft or sqm), or neither"
