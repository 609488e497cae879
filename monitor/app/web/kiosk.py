"""The wall screen: ``/kiosk`` is the dashboard without navigation, kept signed in by a
read-only API token of the ``viewer`` role.

A browser cannot send a bearer header on a page load, so the screen is set up once by opening
``/kiosk/enter?token=TOKEN``: the token is checked (valid, viewer role: any other is refused),
put in the ``cw_kiosk`` cookie (HttpOnly, SameSite=Strict, Secure over https, path ``/``),
and the browser is sent on to ``/kiosk`` at once, so the token leaves the address bar. The
console keeps no access log and never logs the token. The cookie is honoured for GET and HEAD
only (it is ambient, like a session, but has no CSRF token): it can show, never act. Revoking
the token (``coldwatch user token-revoke``) ends the screen's access at its next request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from monitor.app.web.auth import KIOSK_COOKIE, MAX_TOKEN, identity_of, require, secure_cookies
from monitor.app.web.context import WebContext, context_of
from monitor.app.web.dashboard import board
from monitor.identity.model import Principal
from monitor.identity.roles import Permission, Role

router = APIRouter()

#: The cookie's lifetime; the token's own expiry still ends the access at its time.
KIOSK_COOKIE_SECONDS = 400 * 86400


@router.get("/kiosk/enter", include_in_schema=False)
async def kiosk_enter(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    token: Annotated[str, Query(max_length=MAX_TOKEN)] = "",
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    found = await identity_of(context).resolve_api_token(token) if token else None
    if found is None or found.role is not Role.VIEWER:
        message = (
            "no token given"
            if not token
            else "this token is not a valid API token of the viewer role (revoked, expired, "
            "mistyped or of another role): a wall screen only takes a read-only viewer token"
        )
        answer = templates.TemplateResponse(
            request,
            "kiosk_enter.html",
            {"title": "Wall screen", "message": message},
            status_code=400 if not token else 403,
        )
        answer.headers["referrer-policy"] = "no-referrer"
        return answer
    response = RedirectResponse("/kiosk", status_code=303)
    response.set_cookie(
        KIOSK_COOKIE,
        token,
        max_age=KIOSK_COOKIE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(context),
    )
    response.headers["referrer-policy"] = "no-referrer"
    return response


@router.get("/kiosk", response_class=HTMLResponse, include_in_schema=False)
async def kiosk(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "kiosk.html", board(request, context))
