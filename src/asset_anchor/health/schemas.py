from typing import Literal

from pydantic import BaseModel, Field


class HealthOut(BaseModel):
    """The shape the uptime monitor reads."""

    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description=(
            "healthy: every dependency answers; degraded: Redis is down, so"
            " background work and live features wait; unhealthy: the database"
            " is down."
        )
    )
    version: str = Field(description="The running release.")
    database: Literal["connected", "disconnected"]
    redis: Literal["connected", "disconnected"]


class LiveOut(BaseModel):
    status: Literal["alive"]
