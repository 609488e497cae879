"""The pages, rendered on the server from Jinja2 templates (``templates/``); htmx and the
dashboard's ``js/live.js``, served from ``/static/``, are their only scripts. A page never
loads anything from another origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates

from monitor import __version__
from monitor.app.web.auth import csrf_of
from monitor.app.web.context import WebContext
from monitor.identity.model import Principal
from monitor.identity.roles import Permission, allows

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

router = APIRouter()
"""The pages' routes are in their own modules; the landing page ``/`` is the dashboard
(:mod:`monitor.app.web.dashboard`)."""


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
