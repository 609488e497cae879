"""The pages, rendered on the server from Jinja2 templates (``templates/``); htmx, served
from ``/static/``, is their only script. A page never loads anything from another origin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from monitor import __version__
from monitor.app.web.auth import csrf_of, require
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.health import health_of
from monitor.identity.model import Principal
from monitor.identity.roles import Permission, allows

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

router = APIRouter()


def who_is_signed_in(request: Request) -> dict[str, Any]:
    """What every page shows of its reader: name and role, the sign-out form, and the
    session's CSRF token (forms' hidden field, htmx's header)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return {
        "principal": principal,
        "csrf": csrf_of(request),
        "can_manage_users": principal is not None
        and (
            allows(principal.role, Permission.MANAGE_USERS)
            or allows(principal.role, Permission.USER_ACCESS_REVIEW)
        ),
        "can_audit": principal is not None and allows(principal.role, Permission.AUDIT_TRAIL),
    }


def make_templates(context: WebContext) -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES, context_processors=[who_is_signed_in])
    templates.env.globals.update(
        site_name=context.site_name, site_id=context.site_id, version=__version__
    )
    return templates


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request, "index.html", {"title": "Overview", "health": health_of(context)}
    )
