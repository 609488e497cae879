"""``GET /api/events/live``: the dashboard's tiles as Server-Sent Events (``event: tiles``,
``data: {"at": ..., "tiles": {unit id: html}}``), at most one message a second
(:mod:`monitor.app.web.live_feed`). Signed in, with the ``view`` permission.

A client that stops reading is dropped by the feed; its response then stops waiting for the
send that its closed TCP window holds up, and the connection is closed (the browser's
EventSource reconnects by itself when it can, with ``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse
from starlette.types import Send

from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.events import STREAM_HEADERS, reserve_stream
from monitor.app.web.live_feed import LiveClient, LiveFeed
from monitor.identity.model import Principal
from monitor.identity.roles import Permission

router = APIRouter()

MAX_EVENT_ID = 64


class LiveStreamResponse(StreamingResponse):
    """A stream that gives up a send still waiting when its client is dropped."""

    def __init__(self, content: AsyncIterator[bytes], client: LiveClient, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.client = client

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        gone = asyncio.ensure_future(self.client.gone.wait())
        try:
            async for chunk in self.body_iterator:
                assert isinstance(chunk, bytes)
                sending = asyncio.ensure_future(
                    send({"type": "http.response.body", "body": chunk, "more_body": True})
                )
                await asyncio.wait({sending, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not sending.done():
                    sending.cancel()
                    await asyncio.wait({sending})
                    return  # uvicorn closes the connection of an unfinished response
                sending.result()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()


def feed_of(request: Request) -> LiveFeed:
    feed = request.app.state.live_feed
    assert isinstance(feed, LiveFeed)
    return feed


async def frames(feed: LiveFeed, client: LiveClient) -> AsyncIterator[bytes]:
    try:
        async for message in client.messages():
            yield message
    finally:
        feed.leave(client)


@router.get("/api/events/live", include_in_schema=False)
async def live(
    context: Annotated[WebContext, Depends(context_of)],
    feed: Annotated[LiveFeed, Depends(feed_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    streams = context.streams
    reserve_stream(streams)
    # an id that is not one of ours (too long, another run's) just means: send everything
    client = feed.subscribe(last_event_id[:MAX_EVENT_ID] if last_event_id else None)
    return LiveStreamResponse(
        streams.until_closed(frames(feed, client)),
        client,
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )
