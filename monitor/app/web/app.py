"""The web console's FastAPI application: routes, error answers, limits, static files.

The OpenAPI document (``/api/openapi.json``) is made from the pydantic models of the routes.
FastAPI's interactive documentation pages are off: they load their scripts from a CDN, and
no page of this console loads anything from the internet.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from monitor import __version__
from monitor.app.web import errors, events, health, pages
from monitor.app.web.context import WebContext
from monitor.app.web.errors import ErrorBody
from monitor.app.web.limits import BodyLimit, SecurityHeaders

OPENAPI_URL = "/api/openapi.json"


def create_app(context: WebContext) -> FastAPI:
    app = FastAPI(
        title=f"coldwatch ({context.site_id})",
        version=__version__,
        description="The coldwatch web console's API. Errors are "
        '`{"error": message, "reason": word}`.',
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        responses={
            400: {"model": ErrorBody, "description": "a malformed request"},
            413: {"model": ErrorBody, "description": "the request body is over the limit"},
        },
    )
    app.state.context = context
    app.state.templates = pages.make_templates(context)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    # links are paths on this origin, never absolute URLs made from the request's Host
    app.state.templates.env.globals["path_for"] = app.url_path_for
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
