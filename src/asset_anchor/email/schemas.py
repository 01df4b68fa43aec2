from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PostmarkEvent(BaseModel):
    """The fields we read from a Postmark bounce, complaint or subscription event."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    record_type: str = Field(alias="RecordType", max_length=64)
    event_id: int | str | None = Field(default=None, alias="ID")
    type: str | None = Field(default=None, alias="Type", max_length=64)
    email: str | None = Field(default=None, alias="Email", max_length=320)
    recipient: str | None = Field(default=None, alias="Recipient", max_length=320)
    suppress_sending: bool | None = Field(default=None, alias="SuppressSending")
    suppression_reason: str | None = Field(
        default=None, alias="SuppressionReason", max_length=64
    )
    description: str | None = Field(default=None, alias="Description", max_length=2000)


class WebhookOut(BaseModel):
    status: Literal["accepted", "ignored"] = Field(
        description="accepted: the address's state changed or was confirmed;"
        " ignored: the event needs nothing from us."
    )
