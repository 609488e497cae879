"""``coldwatch user ...`` as requests: one JSON object in, one out, the same whether the daemon
serves it on its control socket or the command line runs it on the store (no daemon running).

Who asks is never in the request: the caller's OS user and the person ``people[].os_users``
maps it to come from the kernel (the socket's peer credentials) or from the process itself.
Requests::

    {"cmd": "user.add", "user_id": "alice", "name": "Alice Smith", "role": "technician",
     "password": "...", "verified_by": "ada", "reason": "...", "person_id": "alice",
     "first_admin": false}
    {"cmd": "user.disable" | "user.enable", "user_id": "alice", "reason": "..."}
    {"cmd": "user.role", "user_id": "alice", "role": "supervisor", "reason": "..."}
    {"cmd": "user.reset_password", "user_id": "alice", "reason": "..."}
                                      -> {"ok": true, "user": {...}, "one_time_password": "..."}
    {"cmd": "user.list"}              -> {"ok": true, "users": [{...}, ...]}
    {"cmd": "user.token_add", "name": "bms", "role": "viewer", "days": 90, "reason": "...",
     "owner": "alice"}                 (owner: the user the token acts for; none: viewer only)
                                      -> {"ok": true, "token_id": "tok-...", "token": "...",
                                          "expires": "..."}
    {"cmd": "user.token_revoke", "token_id": "tok-...", "reason": "..."}

Answers carry the user's version without its password hash; refusals are
``{"ok": false, "error": "...", "reason": "refused" | "bad_request"}``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from monitor.identity.admin import AdminRefused, UserAdmin
from monitor.identity.model import Actor
from monitor.identity.roles import Permission, Role, allows, parse_role
from monitor.store.base import StoreError

USER_COMMANDS: Final = (
    "user.add",
    "user.disable",
    "user.enable",
    "user.role",
    "user.reset_password",
    "user.list",
    "user.token_add",
    "user.token_revoke",
)
REFUSED: Final = "refused"
BAD_REQUEST: Final = "bad_request"
FAILED: Final = "failed"


class _Caller(Protocol):
    @property
    def os_user(self) -> str | None: ...

    @property
    def person(self) -> str | None: ...


def _refusal(message: str, reason: str = REFUSED) -> dict[str, Any]:
    return {"ok": False, "error": message, "reason": reason}


def _field(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value.strip():
        raise AdminRefused(f"{name} is required")
    return value.strip()


def _reader(admin: UserAdmin, os_user: str, person: str | None) -> Actor:
    """``user list``: an admin, or QA for the user-access review."""
    try:
        return admin.acting_admin(os_user, person)
    except AdminRefused:
        user_id = admin.records.user_of_person(person) if person else None
        user = admin.records.user(user_id) if user_id else None
        if user is None or not user.enabled or not allows(user.role, Permission.USER_ACCESS_REVIEW):
            raise
        return Actor(user.user_id, "user", os_user)


def _own_person(os_user: str, person: str | None, request: dict[str, Any]) -> None:
    """The first admin is linked to the person the OS user running the command maps to:
    otherwise nobody could act as that admin afterwards."""
    if person is None:
        raise AdminRefused(
            f"OS user {os_user} is in no people[].os_users: list it under the person who "
            "will be the first admin, then add the admin with --person PERSON_ID"
        )
    if request.get("person_id") != person:
        raise AdminRefused(
            f"the first admin is linked to your own person: --person {person} (your OS user "
            f"{os_user} maps to it)"
        )


def execute(
    admin: UserAdmin, os_user: str | None, person: str | None, request: dict[str, Any]
) -> dict[str, Any]:
    """Answer one request as ``os_user`` (mapped to ``person``)."""
    cmd = request.get("cmd")
    if cmd not in USER_COMMANDS:
        return _refusal(f"unknown command {str(cmd)[:40]!r}", BAD_REQUEST)
    if not os_user:
        return _refusal("your OS account has no user name; coldwatch cannot say who you are")
    try:
        if cmd == "user.list":
            _reader(admin, os_user, person)
            return {"ok": True, "users": [u.public() for u in admin.records.users()]}
        if cmd == "user.add" and request.get("first_admin") is True:
            actor = admin.first_admin_actor(os_user)
            _own_person(os_user, person, request)
        elif cmd == "user.token_add" and request.get("owner") is not None:
            actor = admin.acting_user(os_user, person)  # a person makes their own token
        else:
            actor = admin.acting_admin(os_user, person)
        return _change(admin, actor, cmd, request)
    except AdminRefused as exc:
        return _refusal(str(exc))
    except ValueError as exc:  # a role name
        return _refusal(str(exc), BAD_REQUEST)
    except StoreError as exc:
        return _refusal(f"not recorded: {exc}", FAILED)


def _token(admin: UserAdmin, actor: Actor, cmd: str, request: dict[str, Any]) -> dict[str, Any]:
    reason = _field(request, "reason")
    if cmd == "user.token_revoke":
        token_id = _field(request, "token_id")
        admin.revoke_token(actor, token_id, reason)
        return {"ok": True, "token_id": token_id, "revoked": True}
    days = request.get("days")
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise AdminRefused("days is required (a number)")
    role = parse_role(_field(request, "role"))
    owner = request.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner.strip()):
        raise AdminRefused("owner is a user id")
    made = admin.create_token(
        actor,
        _field(request, "name"),
        role,
        float(days),
        reason,
        owner=owner.strip() if isinstance(owner, str) else None,
    )
    return {
        "ok": True,
        "token_id": made.token_id,
        "token": made.token,
        "expires": made.expires.isoformat(timespec="seconds"),
    }


def _change(admin: UserAdmin, actor: Actor, cmd: str, request: dict[str, Any]) -> dict[str, Any]:
    if cmd.startswith("user.token_"):
        return _token(admin, actor, cmd, request)
    user_id = _field(request, "user_id")
    reason = _field(request, "reason")
    if cmd == "user.add":
        password = request.get("password")
        if not isinstance(password, str):
            raise AdminRefused("password is required")
        verified = request.get("verified_by")
        person_id = request.get("person_id")
        version = admin.add_user(
            actor,
            user_id,
            _field(request, "name"),
            parse_role(_field(request, "role")),
            password,
            verified_by=verified if isinstance(verified, str) else None,
            reason=reason,
            person_id=person_id if isinstance(person_id, str) and person_id else None,
        )
        return {"ok": True, "user": version.public()}
    if cmd == "user.disable":
        return {"ok": True, "user": admin.disable(actor, user_id, reason).public()}
    if cmd == "user.enable":
        return {"ok": True, "user": admin.enable(actor, user_id, reason).public()}
    if cmd == "user.role":
        role: Role = parse_role(_field(request, "role"))
        return {"ok": True, "user": admin.set_role(actor, user_id, role, reason).public()}
    one_time = admin.reset_password(actor, user_id, reason)
    user = admin.records.user(user_id)
    assert user is not None
    return {"ok": True, "user": user.public(), "one_time_password": one_time}


def control_handlers(
    admin: UserAdmin,
) -> dict[str, Callable[[_Caller, dict[str, Any]], Awaitable[dict[str, Any]]]]:
    """The user commands for the daemon's control socket: each runs :func:`execute` off the
    event loop (hashing a password takes ~100 ms), one at a time."""
    one_at_a_time = threading.Lock()

    def run(caller: _Caller, request: dict[str, Any]) -> dict[str, Any]:
        with one_at_a_time:
            return execute(admin, caller.os_user, caller.person, request)

    async def handler(caller: _Caller, request: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(run, caller, request)

    return dict.fromkeys(USER_COMMANDS, handler)
