"""The dashboard (``/``, the page after sign-in): every unit's tile by location, kept live by
``/api/events/live`` (:mod:`monitor.app.web.live_events`), and its wall-screen form, the
kiosk (:mod:`monitor.app.web.kiosk`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from monitor.app.unit_state import UnitTile
from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.live_feed import LiveFeed
from monitor.app.web.tile_html import tile_html
from monitor.identity.model import Principal
from monitor.identity.roles import Permission

router = APIRouter()


def tile_renderer() -> Callable[[UnitTile], str]:
    """One tile's HTML, as the dashboard shows it in place (for the live feed)."""
    return lambda tile: str(tile_html(tile))


def board(request: Request, context: WebContext) -> dict[str, Any]:
    feed: LiveFeed = request.app.state.live_feed
    now = context.clock.now()
    return {"locations": feed.tiles(now), "now": now, "zone": context.timezone}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "dashboard.html", {"title": "Dashboard", **board(request, context)}
    )
