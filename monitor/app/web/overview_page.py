"""``/overview`` and ``/api/overview``: the site at a glance, from the store, by the same
function as ``coldwatch status`` (:func:`monitor.app.overview.site_overview`), so the two
agree; and the monitor's own health (the store taking writes, the last commit)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from monitor.app.overview import SiteOverview, site_overview
from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.health import health_of
from monitor.identity.model import Principal
from monitor.identity.roles import Permission
from monitor.store.base import StoreError

router = APIRouter()


async def overview_of(context: WebContext) -> SiteOverview:
    """Read in a thread: the completeness counts may take a while on a big store, and the
    event loop polls the devices."""
    store, config = context.overview_store, context.site_config
    if store is None or config is None:
        raise HTTPException(503, "the overview is not available: this console has no store")
    try:
        return await asyncio.to_thread(site_overview, config, store, context.clock.now())
    except StoreError as exc:
        raise HTTPException(503, f"the store cannot be read now: {exc}") from None


@router.get("/api/overview", tags=["overview"])
async def overview_api(
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> dict[str, Any]:
    """Units by state, active alarms by priority, devices down and each unit's data
    completeness over the last 24 h (``coldwatch status --overview --format json``)."""
    return (await overview_of(context)).to_json()


@router.get("/overview", response_class=HTMLResponse, include_in_schema=False)
async def overview_page(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    overview = await overview_of(context)
    return templates.TemplateResponse(
        request,
        "overview.html",
        {
            "title": "Site overview",
            "overview": overview,
            "health": health_of(context),
            "zone": context.timezone,
        },
    )
