from dataclasses import asdict

from fastapi import APIRouter, Request, Response

from asset_anchor.health.schemas import HealthOut, LiveOut
from asset_anchor.health.service import HealthMonitor

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    name="get",
    summary="Service health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database is down."}},
)
async def health(request: Request, response: Response) -> HealthOut:
    """Report whether the API and its dependencies are up.

    200 when the database answers (``status`` is ``degraded`` while Redis is
    down); 503 when the database does not. Each probe gives up after
    ``HEALTH_PROBE_TIMEOUT_SECONDS`` (2 s by default). Concurrent requests
    share one probe, and its answer is reused for ``HEALTH_CACHE_SECONDS``.
    """
    monitor: HealthMonitor = request.app.state.health
    report = await monitor.report()
    if report.status == "unhealthy":
        response.status_code = 503
    return HealthOut(**asdict(report))


@router.get(
    "/health/live", name="live", summary="Process liveness", response_model=LiveOut
)
async def live() -> LiveOut:
    """Answer 200 whenever the process serves requests; touches no dependency."""
    return LiveOut(status="alive")
