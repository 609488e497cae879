"""The pages, rendered on the server from Jinja2 templates (``templates/``); htmx, served
from ``/static/``, is their only script. A page never loads anything from another origin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from monitor import __version__
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.health import health_of

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

router = APIRouter()


def make_templates(context: WebContext) -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.globals.update(
        site_name=context.site_name, site_id=context.site_id, version=__version__
    )
    return templates


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(
    request: Request, context: Annotated[WebContext, Depends(context_of)]
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "index.html", {"title": "Overview", "health": health_of(context)}
    )
