"""``coldwatch user add|disable|enable|reset-password|role|list`` (and ``token-add``,
``token-revoke`` for machines' API tokens): the people who sign in to the web console, and
their roles.

While the daemon runs, the request goes through its control socket (the daemon is the one
writer of the store, and takes who you are from the socket's peer credentials); when no daemon
runs, the command takes the store's lock and makes the change itself, as the OS user running
it. Either way :func:`monitor.identity.commands.execute` decides: you act as the enabled admin
user linked to the person whose ``people[].os_users`` lists your OS account, except for
``user add --first-admin`` on a store without users. A password is read from the terminal
(typed twice) or from standard input (``--password-stdin``), never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import pwd
import sys
from pathlib import Path
from typing import Any

from monitor.app.cli_common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    base_dir,
    load_or_exit,
    with_config,
)
from monitor.app.config import LoadedConfig
from monitor.core.secrets import secrets_deferred

MAX_PASSWORD_INPUT = 4096


def os_user_name() -> str | None:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return None


def read_password(from_stdin: bool) -> str | None:
    """The new user's password: one line of standard input, or typed twice at a prompt.
    None (and a message) when it cannot be read or the two differ."""
    if from_stdin:
        line = sys.stdin.readline(MAX_PASSWORD_INPUT + 1)
        password = line.rstrip("\r\n")
        if not password:
            print("coldwatch: no password on standard input", file=sys.stderr)
            return None
        return password
    if not sys.stdin.isatty():
        print("coldwatch: no terminal to type a password: use --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("Password for the new user: ")
    if getpass.getpass("Type it again: ") != first:
        print("coldwatch: the two passwords differ", file=sys.stderr)
        return None
    return first


def build_request(args: argparse.Namespace) -> dict[str, Any] | None:
    action = args.user_action
    if action == "list":
        return {"cmd": "user.list"}
    if action == "token-add":
        return {
            "cmd": "user.token_add",
            "name": args.name,
            "role": args.role,
            "days": args.days,
            "reason": args.reason,
            "owner": args.owner,
        }
    if action == "token-revoke":
        return {"cmd": "user.token_revoke", "token_id": args.token_id, "reason": args.reason}
    request: dict[str, Any] = {
        "cmd": "user." + action.replace("-", "_"),
        "user_id": args.user_id,
        "reason": args.reason,
    }
    if action == "role":
        request["role"] = args.role
    if action == "add":
        password = read_password(args.password_stdin)
        if password is None:
            return None
        request.update(
            name=args.name,
            role=args.role,
            password=password,
            verified_by=args.verified_by,
            person_id=args.person,
            first_admin=args.first_admin,
        )
    return request


def _direct(loaded: LoadedConfig, config_path: str, request: dict[str, Any]) -> dict[str, Any]:
    """No daemon: the change made here, under the store's lock."""
    from alarms.ack.config import os_user_map
    from monitor.core.model import utc_now
    from monitor.identity.admin import UserAdmin
    from monitor.identity.commands import execute
    from monitor.identity.records import IdentityRecords
    from monitor.store.base import StoreError
    from monitor.store.factory import open_store, sqlite_path, store_access
    from monitor.store.lock import StoreLock, StoreLocked

    cfg = loaded.config
    store_file = sqlite_path(cfg.store, base_dir(config_path))
    lock = StoreLock(store_file, store_access(cfg.store))
    try:
        lock.acquire()
    except StoreLocked as exc:
        return {
            "ok": False,
            "reason": "no_daemon",
            "error": f"{exc}, but it serves no control socket for user commands (the "
            "configuration needs an alarms: section and acknowledgement.control_socket on)",
        }
    except StoreError as exc:
        return {"ok": False, "reason": "failed", "error": str(exc)}
    try:
        open_store(cfg.store, base_dir(config_path)).close()  # created or migrated
        records = IdentityRecords(store_file)
        admin = UserAdmin(
            records,
            utc_now,
            passwords=cfg.web.password,
            known_people=[p.id for p in cfg.people],
        )
        try:
            os_user = os_user_name()
            person = os_user_map(cfg.people).get(os_user or "")
            return execute(admin, os_user, person, request)
        finally:
            admin.hasher.close()
            records.close()
    except StoreError as exc:
        return {"ok": False, "reason": "failed", "error": str(exc)}
    finally:
        lock.release()


def send(loaded: LoadedConfig, config_path: str, request: dict[str, Any]) -> dict[str, Any]:
    """The daemon's answer through its control socket, or the change made here without one."""
    from alarms.ack import control_client as client
    from monitor.app.cli_daemon import served_socket

    path = served_socket(loaded, config_path)
    if isinstance(path, Path):
        try:
            return client.request(path, request, timeout=30.0)
        except client.ControlError as exc:
            if exc.reason != client.NO_DAEMON:
                return {"ok": False, "reason": exc.reason, "error": exc.message}
    return _direct(loaded, config_path, request)


def _print_user(user: dict[str, Any]) -> None:
    state = "enabled" if user["enabled"] else "disabled"
    person = user.get("person_id") or "-"
    print(
        f"{user['user_id']:<16} {user['role']:<10} {state:<8} person {person:<12} "
        f"{user['printed_name']} (version {user['version']}, {user['change']} by "
        f"{user['changed_by']})"
    )


def cmd_user(args: argparse.Namespace) -> int:
    with secrets_deferred():  # users need none of the paging secrets
        loaded = load_or_exit(args.config)
    if args.user_action != "list" and not args.reason.strip():
        print("coldwatch: --reason must say why", file=sys.stderr)
        return EXIT_CONFIG
    request = build_request(args)
    if request is None:
        return EXIT_CONFIG
    answer = send(loaded, args.config, request)
    if not answer.get("ok"):
        reason = answer.get("reason", "refused")
        label = "refused" if reason == "refused" else f"refused ({reason})"
        print(f"coldwatch: {label}: {answer.get('error')}", file=sys.stderr)
        return EXIT_CONFIG if reason == "bad_request" else EXIT_FAILED
    if args.user_action == "list":
        if args.json:
            print(json.dumps(answer["users"], indent=2))
        for user in [] if args.json else answer["users"]:
            _print_user(user)
        return EXIT_OK
    if args.user_action == "token-add":
        print(f"API token {answer['token_id']} (expires {answer['expires']}), shown once:")
        print(answer["token"])
        return EXIT_OK
    if args.user_action == "token-revoke":
        print(f"API token {answer['token_id']}: revoked")
        return EXIT_OK
    user = answer["user"]
    print(f"user {user['user_id']}: {user['change']} (version {user['version']})")
    if "one_time_password" in answer:
        print(
            f"one-time password (shown once; it must be changed at the next sign-in and "
            f"cannot sign): {answer['one_time_password']}"
        )
    elif user["password_one_time"] and args.user_action == "add":
        print("the password given is one-time: the user changes it at the first sign-in")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Add ``user`` and its actions to the ``coldwatch`` command's subparsers."""
    user = sub.add_parser(
        "user",
        help="manage the people who sign in to the web console, and their roles",
        description="Add, disable, enable and list users, change a role, reset a password. "
        "You act as the enabled admin user linked to the coldwatch person whose os_users "
        "lists your OS account (the very first admin: --first-admin). Through the daemon's "
        "control socket while it runs; directly on the store when it does not. Every change "
        "is a new version of the user with who made it and why; nothing is deleted.",
    )
    actions = user.add_subparsers(dest="user_action", required=True, metavar="ACTION")
    p = with_config(actions.add_parser("add", help="add a user (a user id is never reused)"))
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument("--name", required=True, help="the printed name shown with signatures")
    p.add_argument("--role", required=True, help="viewer, technician, supervisor, qa or admin")
    p.add_argument(
        "--verified-by",
        metavar="ADMIN_ID",
        help="the admin user who verified the person's identity (21 CFR 11.100(b))",
    )
    p.add_argument("--person", metavar="PERSON_ID", help="the people: entry of this user")
    p.add_argument(
        "--first-admin",
        action="store_true",
        help="create the first admin on a store without users, as your OS user",
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    for name, summary in (
        ("disable", "disable a user (a user is never deleted); their sessions end"),
        ("enable", "enable a disabled user"),
        ("reset-password", "issue a one-time password (printed once)"),
    ):
        p = with_config(actions.add_parser(name, help=summary))
        p.add_argument("user_id", metavar="USER_ID")
        p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    p = with_config(actions.add_parser("role", help="change a user's role"))
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument("role", metavar="ROLE", help="viewer, technician, supervisor, qa or admin")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    p = with_config(
        actions.add_parser(
            "token-add", help="create an API token for a person or a machine (shown once)"
        )
    )
    p.add_argument("name", metavar="NAME", help="what uses it, e.g. 'BMS bridge'")
    p.add_argument(
        "--role",
        required=True,
        help="viewer, technician, supervisor or qa; at most the --for user's role, and only "
        "viewer without --for",
    )
    p.add_argument(
        "--for",
        dest="owner",
        metavar="USER_ID",
        help="the user the token acts for (what it does is attributed to them): yourself, "
        "as only its owner may make one; without it (an admin's) the token is a machine's and "
        "only reads",
    )
    p.add_argument("--days", type=float, default=90.0, help="days until it expires (90)")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    p = with_config(actions.add_parser("token-revoke", help="revoke an API token"))
    p.add_argument("token_id", metavar="TOKEN_ID")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    p = with_config(actions.add_parser("list", help="every user's current version (admin, qa)"))
    p.add_argument("--json", action="store_true", help="print JSON")
    user.set_defaults(func=cmd_user)
