"""Users and sign-in for the web console's tests: users written straight into a store's
identity tables (argon2 at test cost), and a client signed in through the real sign-in form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from monitor.app.web.auth import SESSION_COOKIE, csrf_token_for
from monitor.app.web.config import WebConfig
from monitor.core.clock import Clock
from monitor.identity.admin import UserAdmin
from monitor.identity.model import Actor, AuditEntry, UserVersion
from monitor.identity.passwords import Hasher
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role
from monitor.identity.service import IdentityService
from tests.support.identity import cheap_hasher, make_store

#: Every test user's password (never a default of the product: tests only).
PASSWORD = "correct horse battery staple"
HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def fast_hasher() -> Hasher:
    """argon2id at a test cost (the parameters travel in each hash, so the daemon verifies
    these too)."""
    return cheap_hasher()


@dataclass
class ConsoleIdentity:
    records: IdentityRecords
    service: IdentityService
    admin: UserAdmin
    audit: list[AuditEntry]

    def close(self) -> None:
        self.service.close()
        self.records.close()

    def start_threads(self) -> None:
        """Start the service's database thread and hashing thread now: a module-wide console
        would otherwise start them inside its first test (a leak to the leak check)."""
        self.service._db.submit(int).result()
        self.service.hasher._pool.submit(int).result()


def console_identity(store_file: Path, clock: Clock, settings: WebConfig) -> ConsoleIdentity:
    """An IdentityService and a web UserAdmin on ``store_file`` (opened by SQLiteStore
    first), their audit entries kept in ``audit``."""
    make_store(store_file)  # its migrations make identity's tables
    records = IdentityRecords(store_file)
    hasher = fast_hasher()
    audit: list[AuditEntry] = []
    service = IdentityService(
        records,
        clock,
        hasher=hasher,
        sessions=settings.session,
        lockout=settings.lockout,
        passwords=settings.password,
        on_audit=audit.append,
    )
    admin = UserAdmin(
        records, clock.now, hasher=hasher, passwords=settings.password,
        on_audit=audit.append, source="web",
    )  # fmt: skip
    return ConsoleIdentity(records, service, admin, audit)


def add_user(
    records: IdentityRecords,
    user_id: str,
    role: Role,
    *,
    password: str = PASSWORD,
    one_time: bool = False,
    at: Any = None,
    person: str | None = None,
) -> UserVersion:
    """A user with ``password`` (their own, or a one-time one), written as version 1."""
    now = at or datetime.now(UTC)
    version = UserVersion(
        at=now,
        user_id=user_id,
        version=1,
        change="added",
        printed_name=f"{user_id.title()} Tester",
        role=role,
        enabled=True,
        person_id=person,
        password_hash=fast_hasher().hash_sync(password),
        password_set=now,
        password_one_time=one_time,
        changed_by="tests",
        changed_by_kind="os_user",
        os_user="tests",
        verified_by="tests",
        reason="a test user",
    )
    records.append_user(version)
    return version


def add_users(store_file: Path, roles: dict[str, Role]) -> str:
    """Users into a store that no daemon holds yet (a daemon test, before ``run``); a
    viewer's API token for machines."""
    make_store(store_file)  # its migrations make identity's tables
    records = IdentityRecords(store_file)
    try:
        for user_id, role in roles.items():
            add_user(records, user_id, role)
        return api_token(records)
    finally:
        records.close()


def api_token(
    records: IdentityRecords,
    role: Role = Role.VIEWER,
    days: float = 2,
    *,
    owner: str | None = None,
) -> str:
    """An API token of ``role``: a machine's (viewer, created as an admin would), or one that
    acts for the user ``owner`` (created by that user, as only they may)."""
    admin = UserAdmin(records, lambda: datetime.now(UTC), hasher=fast_hasher())
    made = admin.create_token(
        Actor(owner or "tests-admin", "user"), "tests", role, days, "tests", owner=owner
    )
    return made.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(
    client: httpx.Client, user_id: str, password: str = PASSWORD, next_path: str = "/"
) -> httpx.Response:
    """Through the sign-in form, as a browser does: the answer (303 on success)."""
    form = client.get("/signin")
    assert form.status_code == 200, form.text
    match = HIDDEN_CSRF.search(form.text)
    assert match is not None
    return client.post(
        "/signin",
        data={
            "user_id": user_id,
            "password": password,
            "csrf_token": match.group(1),
            "next": next_path,
        },
    )


def signed_in(client: httpx.Client, user_id: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in; its session's CSRF token."""
    answer = sign_in(client, user_id, password)
    assert answer.status_code == 303, answer.text
    return csrf_of(client)


def csrf_of(client: httpx.Client) -> str:
    return csrf_token_for(client.cookies[SESSION_COOKIE])
