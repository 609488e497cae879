"""Who a request comes from, and whether they may: one dependency per route.

Every route but the public ones (:data:`PUBLIC_PATHS`, ``/static``) declares the permission it
needs with ``Depends(require(Permission.X))``; the role matrix is
:mod:`monitor.identity.roles`. The caller is a browser session (the ``cw_session`` cookie:
a random token that :class:`~monitor.identity.service.IdentityService` knows by its hash) or a
machine (``Authorization: Bearer`` with an API token). An anonymous caller is sent to the
sign-in page (a page: 303 with ``?next=``) or answered 401 (the API).

A session's state-changing request (POST, PUT, PATCH, DELETE) also carries the session's CSRF
token, in the ``X-CSRF-Token`` header or the ``csrf_token`` form field; it is derived from the
session token (HMAC), so it is per session, survives a restart and is never stored. An API
token is not ambient (a browser never sends it by itself), so it needs none. A source that
keeps presenting invalid tokens is answered 429 (:func:`token_refused`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from alarms.ack.refusals import Reason
from alarms.ack.throttle import FailureThrottle
from monitor.app.web.context import WebContext
from monitor.app.web.errors import error_response
from monitor.identity.model import Principal, Via
from monitor.identity.roles import Permission, Role, allows
from monitor.identity.service import IdentityService

SESSION_COOKIE: Final = "cw_session"
KIOSK_COOKIE: Final = "cw_kiosk"
"""A wall screen's ``viewer`` API token (:mod:`monitor.app.web.kiosk`): honoured for GET and
HEAD only, and only while the token is valid and of the viewer role."""
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PATHS: Final = frozenset({"/signin", "/signin/password", "/healthz", "/kiosk/enter"})
"""With ``/static/...``: the only paths an anonymous caller may use."""
SIGN_IN_PATH: Final = "/signin"
MAX_TOKEN: Final = 200
_CSRF_LABEL: Final = b"coldwatch csrf v1"


class SignInRequired(Exception):
    """The caller is anonymous (no session, an ended or timed-out one, no valid token)."""


def csrf_token_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def same_origin_path(target: str | None) -> str:
    """``target`` when it is a path on this origin (``/x?y``), else ``/``: a ``next`` never
    sends anyone to another site."""
    if not target or len(target) > 2000:
        return "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return "/"
    return target


def secure_cookies(context: WebContext) -> bool:
    """Cookies are ``Secure`` over TLS, and behind a proxy that serves https."""
    settings = context.settings
    public = settings.public_url or ""
    return settings.tls is not None or public.startswith("https://")


def identity_of(context: WebContext) -> IdentityService:
    if context.identity is None:
        raise HTTPException(503, "sign-in is not available: the daemon has no user store")
    return context.identity


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()[:MAX_TOKEN]


async def principal_of(request: Request) -> Principal | None:
    """Who sent ``request`` (resolved once per request), or None."""
    if hasattr(request.state, "principal"):
        principal: Principal | None = request.state.principal
        return principal
    context: WebContext = request.app.state.context
    identity = identity_of(context)
    principal = None
    request.state.session_token = None
    token = bearer_token(request)
    if token is not None:
        principal = await identity.resolve_api_token(token)
        if principal is None:
            token_refused(request, context)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            principal = await identity.resolve_session(cookie[:MAX_TOKEN])
            if principal is not None:
                request.state.session_token = cookie[:MAX_TOKEN]
        kiosk = request.cookies.get(KIOSK_COOKIE)
        if principal is None and kiosk and request.method in SAFE_METHODS:
            found = await identity.resolve_api_token(kiosk[:MAX_TOKEN])
            principal = found if found is not None and found.role is Role.VIEWER else None
    request.state.principal = principal
    return principal


def token_refused(request: Request, context: WebContext) -> None:
    """A bearer token that is valid for nobody: spent from its source's budget and recorded
    as a refused API request; 429 once the source keeps failing (a valid token is never
    throttled: behind a reverse proxy every request has the same source)."""
    source = request.client.host if request.client else "unknown"
    throttle: FailureThrottle = request.app.state.token_throttle
    wait = throttle.retry_after(source)
    throttle.failed(source)  # a flood stays throttled until it stops
    if context.acknowledger is not None:
        reason, detail = (
            (Reason.RATE_LIMITED, f"too many refused API tokens from {source}")
            if wait
            else (Reason.BAD_TOKEN, "the bearer token is not valid")
        )
        context.acknowledger.refuse("api", source, reason, detail)
    if wait:
        raise HTTPException(
            429,
            f"too many refused API tokens from {source}; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def csrf_of(request: Request) -> str | None:
    """The CSRF token of the request's session (for the pages' forms and htmx headers)."""
    token = getattr(request.state, "session_token", None)
    return csrf_token_for(token) if token else None


async def check_csrf(request: Request) -> None:
    expected = csrf_of(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if expected is None or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(
            403,
            "missing or wrong CSRF token: reload the page and try again (a form from another "
            "site, or a page left open across a new sign-in, cannot act for you)",
        )


Dependency = Callable[[Request], Awaitable[Principal]]


def require(*permissions: Permission) -> Dependency:
    """A route's dependency: the caller, who holds one of ``permissions``; for a session's
    state-changing request, with the session's CSRF token."""
    needed = frozenset(permissions)
    if not needed:
        raise ValueError("a route needs at least one permission")

    async def dependency(request: Request) -> Principal:
        principal = await principal_of(request)
        if principal is None:
            raise SignInRequired
        if request.method not in SAFE_METHODS and principal.via is Via.SESSION:
            await check_csrf(request)
        if not any(allows(principal.role, p) for p in needed):
            names = " or ".join(sorted(p.value for p in needed))
            raise HTTPException(
                403, f"your role ({principal.role.value}) may not do this (needs {names})"
            )
        return principal

    dependency.permissions = needed  # type: ignore[attr-defined]  # read by the route tests
    return dependency


def is_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


async def on_sign_in_required(request: Request, exc: Exception) -> Response:
    if is_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        next_part = "" if target == "/" else "?next=" + quote(same_origin_path(target), safe="/")
        response: Response = RedirectResponse(SIGN_IN_PATH + next_part, status_code=303)
    else:
        response = error_response(
            request,
            401,
            "sign in first: a session cookie, or an API token in 'Authorization: Bearer'",
            headers={"WWW-Authenticate": 'Bearer realm="coldwatch"'},
        )
    for name in (SESSION_COOKIE, KIOSK_COOKIE):
        if request.cookies.get(name):
            response.delete_cookie(name, path="/")
    return response
