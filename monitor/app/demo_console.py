"""The demo's web console: a loopback port, and an admin made for this run only.

No account and no password ship with coldwatch: the demo makes ``demo-admin`` with a random
password when it starts (the first admin of its fresh store, linked to the demo operator, so
that person is who acts in the console) and prints it once beside the console's address.
"""

from __future__ import annotations

import logging
import secrets
import socket

from monitor.app.daemon import Daemon, service_user
from monitor.identity.admin import AdminRefused
from monitor.identity.roles import Role

log = logging.getLogger(__name__)

DEMO_ADMIN = "demo-admin"
#: The console's usual port; another free loopback port when something else holds it.
PREFERRED_PORT = 8480


def console_port(preferred: int = PREFERRED_PORT) -> int:
    """``preferred`` when it is free on loopback, else a port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free loopback port for the demo's console")


def make_demo_admin(daemon: Daemon, person: str) -> str | None:
    """Create ``demo-admin`` on the demo's new store; its password, or None (logged) if the
    store cannot take it (the demo runs on without a console account)."""
    if daemon.identity is None:
        return None
    admin = daemon.identity.cli_admin
    password = secrets.token_urlsafe(12)  # 16 characters, never the user id
    try:
        actor = admin.first_admin_actor(service_user())
        admin.add_user(
            actor,
            DEMO_ADMIN,
            "Demo administrator",
            Role.ADMIN,
            password,
            verified_by=None,
            reason="made by coldwatch demo for this run",
            person_id=person,
        )
    except AdminRefused as exc:
        log.error("the demo's console account was not made: %s", exc)
        return None
    return password


def console_text(url: str, password: str | None) -> list[str]:
    if password is None:
        return [f"  web console: {url} (no demo account: see the log)"]
    return [
        f"  web console: {url} (opens on the live dashboard; {url}overview: the site overview)",
        f"    sign in as {DEMO_ADMIN} with {password} (made for this run; admins manage users,",
        "    add a technician or QA user on the Users page to try their views)",
    ]
