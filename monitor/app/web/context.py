"""What the web console reads from the daemon, handed to it when the app is made.

The console lives on the app floor beside the daemon but never imports it: the daemon gives
it these parts, and tests give it their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from monitor.app.web.config import WebConfig
from monitor.app.web.streams import OpenStreams
from monitor.core.clock import Clock
from monitor.store.writer import StoreWriter


@dataclass(frozen=True)
class WebContext:
    settings: WebConfig
    site_id: str
    site_name: str
    clock: Clock
    writer: StoreWriter
    """The store writer: whether writes succeed, and when the last batch was committed."""
    streams: OpenStreams = field(default_factory=OpenStreams)


def context_of(request: Request) -> WebContext:
    """The context of the app that serves ``request`` (a FastAPI dependency)."""
    context = request.app.state.context
    assert isinstance(context, WebContext)
    return context
