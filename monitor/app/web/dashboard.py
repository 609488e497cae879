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
from monitor.identity.model import Principal
from monitor.identity.roles import Permission

router = APIRouter()


def age_text(seconds: float | None) -> str:
    """``4 s ago``, ``12 min ago``, ``3 h ago``, ``2 d ago`` (live.js writes the same)."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def tile_renderer(templates: Jinja2Templates, context: WebContext) -> Callable[[UnitTile], str]:
    """One tile's HTML, as the dashboard renders it in place (for the live feed)."""
    template = templates.env.get_template("_tile.html")

    def render(tile: UnitTile) -> str:
        return template.render(tile=tile)

    return render


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
