"""Request and response field types every domain shares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from asset_anchor.errors import RequestValidationFailed
from asset_anchor.kit.email_address import MAX_LENGTH, is_plain_address


def _plain_address(value: str) -> str:
    value = value.strip()
    if not is_plain_address(value):
        raise ValueError("not an email address")
    return value


EmailAddress = Annotated[
    str,
    Field(max_length=MAX_LENGTH, examples=["jordan@example.com"]),
    AfterValidator(_plain_address),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=40, pattern=r"^[0-9+()./ -]+$"
    ),
    Field(examples=["+1 503 555 0142"]),
]


class Body(BaseModel):
    """A request body: a field it does not declare is refused, never ignored.

    So ``organization_id``, ``status``, ``role`` and the like cannot be set by
    sending them along: the request fails with 422 and names the field.
    """

    model_config = ConfigDict(extra="forbid")


class Done(BaseModel):
    status: Literal["ok"] = "ok"


def sent_fields(body: BaseModel, *, required: Iterable[str] = ()) -> dict[str, Any]:
    """The fields a PATCH body really carried, null included (which clears).

    A field in ``required`` may be left out but not sent as null: that is a
    422 naming it, as any other invalid field.
    """
    values = body.model_dump(exclude_unset=True)
    nulls = [name for name in required if name in values and values[name] is None]
    if nulls:
        raise RequestValidationFailed(
            "One or more fields are invalid; see errors.",
            errors=[
                {
                    "loc": ["body", name],
                    "message": "This field may be left out, but not set to null.",
                    "type": "null_not_allowed",
                }
                for name in nulls
            ],
        )
    return values
