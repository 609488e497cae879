"""The users pages: the list (admins, and QA for the user-access review), and the admin's
changes through :class:`~monitor.identity.admin.UserAdmin` with the signed-in admin as the
actor (and, for a new user, as the admin who verified the person's identity, 21 CFR
11.100(b)). A new user and a reset get a one-time password, shown once on the answer page."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, Any, Final, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response

from monitor.app.web.auth import require
from monitor.app.web.context import WebContext, context_of
from monitor.identity.admin import USER_ID_PATTERN, AdminRefused, UserAdmin
from monitor.identity.model import Actor, Principal, Via
from monitor.identity.passwords import one_time_password
from monitor.identity.roles import Permission, Role, allows
from monitor.store.base import StoreError

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

Reader = Annotated[
    Principal, Depends(require(Permission.MANAGE_USERS, Permission.USER_ACCESS_REVIEW))
]
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_USERS))]
UserId = Annotated[str, Path(max_length=64, pattern=USER_ID_PATTERN.pattern)]
Reason = Annotated[str, Form(min_length=1, max_length=500)]
ROLES: Final = [role.value for role in Role]
_ONE_AT_A_TIME: Final = threading.Lock()
"""One change from the web at a time: a change hashes a password (~100 ms of CPU, outside
the sign-in pool), and the hashing threads stay bounded."""


def admin_of(context: WebContext) -> UserAdmin:
    if context.users is None:
        raise HTTPException(503, "user administration is not available: no user store")
    return context.users


def actor_of(principal: Principal) -> Actor:
    if principal.via is not Via.SESSION:
        raise HTTPException(403, "users are managed by a signed-in admin, not an API token")
    return Actor(principal.user_id, "user")


async def _users_page(
    request: Request,
    admin: UserAdmin,
    principal: Principal,
    status: int = 200,
    **notice: Any,
) -> Response:
    users = await asyncio.to_thread(admin.records.users)
    response = request.app.state.templates.TemplateResponse(
        request,
        "users.html",
        {
            "title": "Users",
            "users": sorted(users, key=lambda u: u.user_id),
            "roles": ROLES,
            "may_manage": allows(principal.role, Permission.MANAGE_USERS),
            **notice,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"  # a one-time password may be on it
    return response  # type: ignore[no-any-return]


async def _act(
    request: Request,
    context: WebContext,
    principal: Principal,
    change: Callable[[UserAdmin, Actor], T],
    done: Callable[[T], dict[str, Any]],
) -> Response:
    admin = admin_of(context)
    actor = actor_of(principal)

    def run() -> T:
        with _ONE_AT_A_TIME:
            return change(admin, actor)

    try:
        result = await asyncio.to_thread(run)
    except (AdminRefused, ValueError) as exc:
        return await _users_page(request, admin, principal, 400, error=str(exc))
    except StoreError as exc:
        return await _users_page(request, admin, principal, 503, error=f"not recorded: {exc}")
    return await _users_page(request, admin, principal, **done(result))


@router.get("/users", response_class=HTMLResponse, name="users")
async def users(
    request: Request, context: Annotated[WebContext, Depends(context_of)], principal: Reader
) -> Response:
    return await _users_page(request, admin_of(context), principal)


@router.post("/users", response_class=HTMLResponse)
async def add_user(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Admin,
    user_id: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    role: Annotated[Role, Form()],
    reason: Reason,
    person_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    password = one_time_password()

    def change(admin: UserAdmin, actor: Actor) -> str:
        admin.add_user(
            actor,
            user_id.strip(),
            name,
            role,
            password,
            verified_by=actor.id,  # the signed-in admin verified the person's identity
            reason=reason,
            person_id=person_id.strip() or None,
        )
        return user_id.strip()

    return await _act(
        request,
        context,
        principal,
        change,
        lambda added: {"done": f"User {added} added.", "one_time": (added, password)},
    )


@router.post("/users/{user_id}/disable", response_class=HTMLResponse)
async def disable(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Admin,
    user_id: UserId,
    reason: Reason,
) -> Response:
    return await _act(
        request,
        context,
        principal,
        lambda admin, actor: admin.disable(actor, user_id, reason),
        lambda user: {"done": f"User {user.user_id} disabled; their sessions ended."},
    )


@router.post("/users/{user_id}/enable", response_class=HTMLResponse)
async def enable(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Admin,
    user_id: UserId,
    reason: Reason,
) -> Response:
    return await _act(
        request,
        context,
        principal,
        lambda admin, actor: admin.enable(actor, user_id, reason),
        lambda user: {"done": f"User {user.user_id} enabled."},
    )


@router.post("/users/{user_id}/role", response_class=HTMLResponse)
async def set_role(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Admin,
    user_id: UserId,
    role: Annotated[Role, Form()],
    reason: Reason,
) -> Response:
    return await _act(
        request,
        context,
        principal,
        lambda admin, actor: admin.set_role(actor, user_id, role, reason),
        lambda user: {"done": f"User {user.user_id} is now {user.role.value}."},
    )


@router.post("/users/{user_id}/reset-password", response_class=HTMLResponse)
async def reset_password(
    request: Request,
    context: Annotated[WebContext, Depends(context_of)],
    principal: Admin,
    user_id: UserId,
    reason: Reason,
) -> Response:
    return await _act(
        request,
        context,
        principal,
        lambda admin, actor: admin.reset_password(actor, user_id, reason),
        lambda password: {
            "done": f"The password of {user_id} was reset; their sessions ended.",
            "one_time": (user_id, password),
        },
    )
