"""The e-signature dialog's posts: acknowledge (technician), shelve, out of service, return to
service and reset (supervisor), each signed through :func:`monitor.app.signed_commands.
signed_alarm_command` with the meaning chosen from the action's closed list, a comment and the
re-entered credentials (user id and password at the first signing of the continuous session,
the password alone later; 21 CFR 11.200(a)(1)).

A refusal (wrong password, lockout, one-time password, a meaning not in the list, the engine
refusing the command) answers the alarm page with the dialog open and the reason: 400, 401
for credentials, 403, 409 for the engine, 423 locked; never a 5xx. A signed command redirects
(303) to the alarm's page, where the signed entry shows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from alarms.model import AlarmCommandError
from monitor.app.signed_commands import signed_alarm_command
from monitor.app.web.alarm_pages import ACTIONS, HOURS_LIMIT, Target, alarm_page
from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.core.esign import MAX_COMMENT
from monitor.identity.model import Principal
from monitor.identity.signing import SignatureRefused, SigningCredentials
from monitor.store.base import StoreError

router = APIRouter(include_in_schema=False)

#: SignatureRefused.reason -> the answer's status
REFUSAL_STATUS: Final = {
    "not_allowed": 403,
    "session_ended": 401,
    "user_id_required": 400,
    "bad_credentials": 401,
    "account_locked": 423,
    "password_expired": 403,
    "meaning": 400,
    "comment": 400,
    "action": 400,
}
Meaning = Annotated[str, Form(max_length=200)]
Comment = Annotated[str, Form(max_length=MAX_COMMENT)]
Password = Annotated[str, Form(max_length=1024)]
UserId = Annotated[str, Form(max_length=64)]
Hours = Annotated[float, Form(gt=0, le=HOURS_LIMIT.total_seconds() / 3600)]


def source_of(request: Request) -> str:
    return f"web {request.client.host}" if request.client else "web"


async def run_signed(
    request: Request,
    context: WebContext,
    principal: Principal,
    action: str,
    target: str,
    meaning: str,
    comment: str,
    password: str,
    user_id: str,
    hours: float | None = None,
) -> Response:
    if context.alarms is None or context.commands is None:
        raise HTTPException(404, "this site has no alarms configured")
    if context.signing is None:
        raise HTTPException(503, "signing is not available: the daemon has no user store")
    token = getattr(request.state, "session_token", None)
    dialog = {"action": action, "meaning": meaning, "comment": comment}

    async def refused(status: int, message: str) -> Response:
        return await alarm_page(
            request, context, principal, target, status=status,
            dialog={**dialog, "error": message},
        )  # fmt: skip

    if token is None:
        return await refused(403, "an API token cannot sign: sign in to the console")
    try:
        views = await signed_alarm_command(
            context.signing,
            context.commands,
            principal,
            token,
            SigningCredentials(password, user_id.strip() or None),
            action=action,
            target=target,
            meaning=meaning,
            comment=comment,
            source=source_of(request),
            until=timedelta(hours=hours) if hours is not None else None,
        )
    except SignatureRefused as exc:
        message = exc.message
        if exc.locked_until is not None:
            message += f" until {exc.locked_until:%Y-%m-%d %H:%M:%S} UTC"
        return await refused(REFUSAL_STATUS.get(exc.reason, 400), message)
    except AlarmCommandError as exc:
        return await refused(409, f"not done: {exc}")
    except (StoreError, ValueError) as exc:
        return await refused(503, f"not recorded, nothing changed: {exc}")
    shown = (views[0].code or views[0].key) if views else target
    return RedirectResponse(request.app.url_path_for("alarm", target=shown), status_code=303)


def signer(action: str) -> Any:
    """The route's dependency: a caller who holds the action's permission."""
    return Depends(require(ACTIONS[action][0]))


Technician = Annotated[Principal, signer("acknowledge")]
Shelver = Annotated[Principal, signer("shelve")]
Maintainer = Annotated[Principal, signer("out_of_service")]
Returner = Annotated[Principal, signer("return_to_service")]
Resetter = Annotated[Principal, signer("reset")]
Context = Annotated[WebContext, Depends(context_of)]


@router.post("/alarms/{target}/acknowledge")
async def acknowledge(
    request: Request,
    target: Target,
    context: Context,
    principal: Technician,
    meaning: Meaning,
    comment: Comment,
    password: Password,
    user_id: UserId = "",
) -> Response:
    return await run_signed(
        request, context, principal, "acknowledge", target, meaning, comment, password, user_id
    )


@router.post("/alarms/{target}/shelve")
async def shelve(
    request: Request,
    target: Target,
    context: Context,
    principal: Shelver,
    meaning: Meaning,
    comment: Comment,
    password: Password,
    hours: Hours,
    user_id: UserId = "",
) -> Response:
    return await run_signed(
        request, context, principal, "shelve", target, meaning, comment, password, user_id, hours
    )


@router.post("/alarms/{target}/out-of-service")
async def out_of_service(
    request: Request,
    target: Target,
    context: Context,
    principal: Maintainer,
    meaning: Meaning,
    comment: Comment,
    password: Password,
    hours: Hours,
    user_id: UserId = "",
) -> Response:
    return await run_signed(
        request, context, principal, "out_of_service", target, meaning, comment, password,
        user_id, hours,
    )  # fmt: skip


@router.post("/alarms/{target}/return-to-service")
async def return_to_service(
    request: Request,
    target: Target,
    context: Context,
    principal: Returner,
    meaning: Meaning,
    comment: Comment,
    password: Password,
    user_id: UserId = "",
) -> Response:
    return await run_signed(
        request, context, principal, "return_to_service", target, meaning, comment, password,
        user_id,
    )  # fmt: skip


@router.post("/alarms/{target}/reset")
async def reset(
    request: Request,
    target: Target,
    context: Context,
    principal: Resetter,
    meaning: Meaning,
    comment: Comment,
    password: Password,
    user_id: UserId = "",
) -> Response:
    return await run_signed(
        request, context, principal, "reset", target, meaning, comment, password, user_id
    )
