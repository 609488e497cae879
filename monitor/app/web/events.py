"""``GET /api/events/heartbeat``: a bare event stream (Server-Sent Events) for checks.

It sends a ``heartbeat`` event at once and then every ``interval`` seconds, and nothing else:
a proxy or a monitoring probe can check that event streams get through. The dashboard's stream
is ``/api/events/live`` (:mod:`monitor.app.web.live_events`); both count against the same
bound of open streams, all ended when the daemon stops.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import StreamingResponse

from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.streams import OpenStreams, TooManyStreams
from monitor.identity.model import Principal
from monitor.identity.roles import Permission

router = APIRouter()

#: An event stream is never cached, nor buffered by a reverse proxy (nginx).
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def reserve_stream(streams: OpenStreams) -> None:
    """A stream slot for the response about to start, or a 503 that says come back later."""
    try:
        streams.reserve()
    except TooManyStreams:
        raise HTTPException(
            503,
            f"too many open event streams (at most {streams.limit}); try again later",
            headers={"Retry-After": "10"},
        ) from None


async def heartbeats(context: WebContext, interval: float) -> AsyncIterator[bytes]:
    clock = context.clock
    start = clock.monotonic()
    beat = 0
    while True:
        data = json.dumps({"at": clock.now().isoformat(), "beat": beat})
        yield f"event: heartbeat\ndata: {data}\n\n".encode()
        beat += 1
        await clock.sleep_until(start + beat * interval)


@router.get("/api/events/heartbeat", include_in_schema=False)
async def heartbeat(
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
    interval: Annotated[float, Query(ge=1.0, le=60.0, description="seconds")] = 15.0,
) -> StreamingResponse:
    streams = context.streams
    reserve_stream(streams)
    return StreamingResponse(
        streams.until_closed(heartbeats(context, interval)),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )
