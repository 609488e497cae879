"""``GET /healthz``: whether the daemon answers and its store takes writes, for a load
balancer, a reverse proxy or a remote check. It says nothing that needs a sign-in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from monitor.app.web.context import WebContext, context_of

router = APIRouter()


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    """``degraded`` (with 503) while the store refuses writes: readings wait in memory."""
    daemon: Literal["up"]
    store_writable: bool
    last_commit_at: datetime | None
    """When the store writer last committed a batch (UTC); null before its first."""
    last_commit_age_seconds: float | None
    checked_at: datetime


def health_of(context: WebContext) -> Health:
    now = context.clock.now()
    writer = context.writer
    last = writer.last_commit_at
    writable = writer.last_error is None
    return Health(
        status="ok" if writable else "degraded",
        daemon="up",
        store_writable=writable,
        last_commit_at=last,
        last_commit_age_seconds=None if last is None else round((now - last).total_seconds(), 3),
        checked_at=now,
    )


@router.get(
    "/healthz",
    response_model=Health,
    tags=["health"],
    summary="Whether the daemon is up and its store takes writes",
    responses={503: {"model": Health, "description": "the store refuses writes"}},
)
async def healthz(
    response: Response, context: Annotated[WebContext, Depends(context_of)]
) -> Health:
    health = health_of(context)
    if not health.store_writable:
        response.status_code = 503
    return health
