"""Bad input gets a 4xx with a clear message, never a 5xx or a traceback.

Every error answer has one shape, :class:`ErrorBody` (``{"error": message, "reason": word}``,
as the alarm HTTP API answers), as JSON, or as a small page for a browser asking for HTML. A
request that fails validation also lists each field and what is wrong with it (``detail``, in
FastAPI's own shape so that the OpenAPI document stays true), but never the value sent: it
may be a password. A bug still answers 500, with no detail; its traceback goes to the
daemon's log only.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

#: The stable word of each status, for clients and records.
REASONS: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    error: str
    """What went wrong, for a person."""
    reason: str
    """A stable word for programs (``not_found``, ``invalid_request``, ``body_too_large`` ...)."""


def phrase_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def reason_of(status: int) -> str:
    return REASONS.get(status, "client_error" if status < 500 else "server_error")


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not a script, not an API client)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/api/")


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": message, "reason": reason_of(status), **(extra or {})}
    if wants_html(request):
        title = f"{status} {phrase_of(status)}"
        templates = getattr(request.app.state, "templates", None)
        if templates is not None:
            return templates.TemplateResponse(  # type: ignore[no-any-return]
                request,
                "error.html",
                {"title": title, "message": message},
                status_code=status,
                headers=headers,
            )
        page = f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        return HTMLResponse(page, status, headers)
    return JSONResponse(body, status, headers)


def field_issues(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Where and what, without the input (which may be a password)."""
    return [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())],
            "msg": str(err.get("msg", "invalid")),
            "type": str(err.get("type", "value_error")),
        }
        for err in exc.errors()
    ]


def summary(issues: list[dict[str, Any]]) -> str:
    parts = []
    for issue in issues[:5]:
        where = ".".join(str(p) for p in issue["loc"])
        parts.append(f"{where}: {issue['msg']}" if where else issue["msg"])
    more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
    return "invalid request: " + "; ".join(parts) + more


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = field_issues(exc)
    return error_response(request, 422, summary(issues), extra={"detail": issues})


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status < 400 or status == 304:
        return Response(status_code=status, headers=exc.headers)
    phrase = phrase_of(status)
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    if status == 404 and detail == phrase:
        detail = f"nothing here: {request.url.path}"
    elif status == 405 and detail == phrase:
        allowed = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow", "")
        detail = f"{request.method} is not allowed here" + (f" (only {allowed})" if allowed else "")
    return error_response(request, status, detail, headers=exc.headers)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: the answer says nothing of it; the server logs the traceback."""
    return error_response(
        request, 500, "internal error: the daemon's log has the details, please report it"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
