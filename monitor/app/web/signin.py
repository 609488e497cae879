"""Signing in and out, and the account page (change password).

A one-time password (an admin's reset) or an expired one opens no session: the sign-in
answers with the change-password form, and only the new password signs in. The sign-in forms
are protected from cross-site posts by a pre-session token (a cookie that must match the
form's hidden field). Failed sign-ins are rate-limited per client address and per user id
(429 with ``Retry-After``) on top of the account lockout.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from alarms.ack.throttle import FailureThrottle
from monitor.app.web.auth import (
    SESSION_COOKIE,
    identity_of,
    require,
    same_origin_path,
    secure_cookies,
)
from monitor.app.web.context import WebContext, context_of
from monitor.identity.model import Principal, SignInOutcome, SignInResult, Via
from monitor.identity.passwords import MAX_LENGTH, PasswordRejected
from monitor.identity.roles import Permission

PRE_SESSION_COOKIE: Final = "cw_signin"
#: Failed sign-ins: 10 at once per address or user id, then one every 10 seconds.
BURST: Final = 10
PER_MINUTE: Final = 6.0

router = APIRouter(include_in_schema=False)

UserId = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=MAX_LENGTH)]
Token = Annotated[str, Form(max_length=200)]


class SignInThrottle:
    """Failed sign-ins per client address and per user id (on the daemon's clock)."""

    def __init__(self, context: WebContext) -> None:
        self.by_address = FailureThrottle(context.clock, burst=BURST, per_minute=PER_MINUTE)
        self.by_user = FailureThrottle(context.clock, burst=BURST, per_minute=PER_MINUTE)

    def check(self, address: str, user_id: str) -> None:
        wait = max(self.by_address.retry_after(address), self.by_user.retry_after(user_id))
        if wait:
            self.by_address.failed(address)  # a flood stays throttled until it stops
            raise HTTPException(
                429,
                f"too many failed sign-ins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, address: str, user_id: str) -> None:
        self.by_address.failed(address)
        self.by_user.failed(user_id)


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def _form_page(
    request: Request,
    name: str,
    values: dict[str, object],
    status: int = 200,
    pre_token: str | None = None,
) -> Response:
    """A sign-in form, with a fresh pre-session token in its cookie and hidden field."""
    context: WebContext = request.app.state.context
    token = pre_token or secrets.token_urlsafe(24)
    response = templates_of(request).TemplateResponse(
        request, name, {**values, "pre_token": token}, status_code=status
    )
    response.set_cookie(
        PRE_SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(context),
        path="/signin",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_pre_session(request: Request, sent: str) -> None:
    cookie = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(
            403, "missing or wrong CSRF token: open the sign-in page again and sign in from it"
        )


def _signed_in(request: Request, result: SignInResult, next_path: str) -> Response:
    assert result.token is not None
    context: WebContext = request.app.state.context
    response = RedirectResponse(same_origin_path(next_path), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(context),
        path="/",
    )  # no max-age: closing the browser ends the continuous session
    response.delete_cookie(PRE_SESSION_COOKIE, path="/signin")
    return response


@router.get("/signin", response_class=HTMLResponse, name="signin")
async def signin_page(request: Request, next: str = "/") -> Response:
    return _form_page(request, "signin.html", {"title": "Sign in", "next": same_origin_path(next)})


def _refusal(result: SignInResult) -> str:
    if result.outcome is SignInOutcome.LOCKED and result.locked_until is not None:
        until = result.locked_until.strftime("%H:%M UTC")
        return f"This account is locked after failed sign-ins until {until}; ask an admin."
    return "The user id or the password is wrong (or the account is disabled)."


@router.post("/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    user_id: UserId,
    password: Password,
    csrf_token: Token,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    _check_pre_session(request, csrf_token)
    identity = identity_of(context)
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = address_of(request)
    user_id = user_id.strip()
    throttle.check(address, user_id)
    result = await identity.sign_in(user_id, password, source=f"web {address}")
    if result.ok:
        return _signed_in(request, result, next)
    values: dict[str, object] = {"next": same_origin_path(next), "user_id": user_id}
    if result.outcome in (SignInOutcome.MUST_CHANGE_PASSWORD, SignInOutcome.EXPIRED):
        why = (
            "You signed in with a one-time password: choose your own password now."
            if result.outcome is SignInOutcome.MUST_CHANGE_PASSWORD
            else "Your password has expired: choose a new one."
        )
        return _form_page(
            request, "change_password.html", {**values, "title": "Choose a password", "why": why}
        )
    throttle.failed(address, user_id)
    return _form_page(
        request, "signin.html", {**values, "title": "Sign in", "error": _refusal(result)}, 401
    )


@router.post("/signin/password", response_class=HTMLResponse)
async def choose_password(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    user_id: UserId,
    current: Password,
    new: Password,
    repeat: Password,
    csrf_token: Token,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """A one-time or expired password changed before any session opens; then signed in."""
    _check_pre_session(request, csrf_token)
    identity = identity_of(context)
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = address_of(request)
    user_id = user_id.strip()
    throttle.check(address, user_id)
    values: dict[str, object] = {
        "next": same_origin_path(next),
        "user_id": user_id,
        "title": "Choose a password",
    }
    if new != repeat:
        return _form_page(
            request, "change_password.html", {**values, "error": "The new passwords differ."}, 400
        )
    try:
        changed = await identity.change_password(user_id, current, new, source=f"web {address}")
    except PasswordRejected as exc:
        return _form_page(request, "change_password.html", {**values, "error": str(exc)}, 400)
    if not changed.ok:
        throttle.failed(address, user_id)
        return _form_page(
            request, "signin.html", {**values, "title": "Sign in", "error": _refusal(changed)}, 401
        )
    result = await identity.sign_in(user_id, new, source=f"web {address}")
    if not result.ok:
        return _form_page(
            request, "signin.html", {**values, "title": "Sign in", "error": _refusal(result)}, 401
        )
    return _signed_in(request, result, next)


@router.post("/signout")
async def signout(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> Response:
    token = getattr(request.state, "session_token", None)
    if token:
        await identity_of(context).sign_out(token)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", response_class=HTMLResponse, name="account")
async def account(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
) -> Response:
    return templates_of(request).TemplateResponse(
        request, "account.html", {"title": "Your account", "principal": principal}
    )


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Annotated[Principal, Depends(require(Permission.VIEW))],
    current: Password,
    new: Password,
    repeat: Password,
) -> Response:
    if principal.via is not Via.SESSION:
        raise HTTPException(403, "an API token has no password")
    values: dict[str, object] = {"title": "Your account", "principal": principal}
    error, status = None, 200
    if new != repeat:
        error, status = "The new passwords differ.", 400
    else:
        try:
            result = await identity_of(context).change_password(
                principal.user_id, current, new, source=f"web {address_of(request)}"
            )
            if not result.ok:
                error, status = "Your current password is wrong.", 401
        except PasswordRejected as exc:
            error, status = str(exc), 400
    values.update(error=error, changed=error is None)
    return templates_of(request).TemplateResponse(
        request, "account.html", values, status_code=status
    )
