"""The web console's FastAPI application: routes, error answers, limits, static files.

The OpenAPI document (``/api/openapi.json``, for a signed-in caller) is made from the pydantic
models of the routes. Every route but ``/signin``, ``/healthz`` and ``/static`` declares the
permission it needs (:mod:`monitor.app.web.auth`).
FastAPI's interactive documentation pages are off: they load their scripts from a CDN, and
no page of this console loads anything from the internet.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from alarms.ack.throttle import FailureThrottle
from monitor import __version__
from monitor.app.web import (
    alarm_commands,
    alarm_pages,
    alarms_api,
    alarms_api_ack,
    audit,
    dashboard,
    equipment,
    errors,
    events,
    health,
    kiosk,
    live_events,
    overview_page,
    pages,
    signin,
    users,
)
from monitor.app.web.auth import SignInRequired, on_sign_in_required, require
from monitor.app.web.context import WebContext
from monitor.app.web.errors import ErrorBody
from monitor.app.web.limits import BodyLimit, SecurityHeaders
from monitor.app.web.live_feed import LiveFeed
from monitor.app.web.tile_html import tile_html
from monitor.identity.model import Principal
from monitor.identity.roles import Permission

OPENAPI_URL = "/api/openapi.json"


def create_app(context: WebContext) -> FastAPI:
    app = FastAPI(
        title=f"coldwatch ({context.site_id})",
        version=__version__,
        description="The coldwatch web console's API. Errors are "
        '`{"error": message, "reason": word}`.',
        openapi_url=None,  # served below, to a signed-in caller
        docs_url=None,
        redoc_url=None,
        responses={
            400: {"model": ErrorBody, "description": "a malformed request"},
            401: {"model": ErrorBody, "description": "not signed in"},
            403: {"model": ErrorBody, "description": "the caller's role may not do this"},
            413: {"model": ErrorBody, "description": "the request body is over the limit"},
            429: {"model": ErrorBody, "description": "too many refused API tokens from here"},
        },
    )
    app.state.context = context
    app.state.templates = pages.make_templates(context)
    app.state.sign_in_throttle = signin.SignInThrottle(context)
    app.state.token_throttle = FailureThrottle(context.clock)
    errors.install(app)
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(pages.router)
    app.include_router(signin.router)
    app.include_router(users.router)
    app.include_router(alarms_api.router)
    app.include_router(alarms_api_ack.router)
    app.include_router(alarm_pages.router)
    app.include_router(alarm_commands.router)
    app.include_router(audit.router)
    app.include_router(equipment.router)
    app.include_router(dashboard.router)
    app.include_router(kiosk.router)
    app.include_router(live_events.router)
    app.include_router(overview_page.router)

    @app.get(OPENAPI_URL, include_in_schema=False)
    async def openapi(
        _: Annotated[Principal, Depends(require(Permission.VIEW))],
    ) -> dict[str, Any]:
        return app.openapi()

    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    # links are paths on this origin, never absolute URLs made from the request's Host
    app.state.templates.env.globals["path_for"] = app.url_path_for
    app.state.templates.env.filters["when"] = alarm_pages.local
    app.state.templates.env.globals["tile_html"] = tile_html
    app.state.live_feed = LiveFeed(context, dashboard.tile_renderer())
    # the last added runs first: the headers go on every answer, the 413s too, and the size
    # limit comes before anything reads the body
    app.add_middleware(
        BodyLimit,
        max_bytes=context.settings.max_body_bytes,
        clock=context.clock,
        stopping=context.streams.stopping,
    )
    app.add_middleware(SecurityHeaders, tls=context.settings.tls is not None)
    return app
