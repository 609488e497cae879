"""Identity in the daemon: one :class:`IdentityService` (the web console's sign-in and
sessions), one :class:`SigningService` (the console's e-signatures, on the same service and
its lockout) and the :class:`UserAdmin` s of the control socket and the web console, sharing one
argon2 :class:`Hasher` (at most two hashing threads for the whole daemon) and one connection to
identity's tables.

Identity's audit entries (sign-in, sign-out, failed sign-in, lockout, user administration)
become entries of the audit trail through the daemon's audit writer, and a lockout is published
to the pipeline, which raises the ``account_locked`` system alarm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from monitor.app.web.config import WebConfig
from monitor.core.clock import Clock
from monitor.core.model import Event
from monitor.identity import model as identity
from monitor.identity.admin import UserAdmin
from monitor.identity.passwords import Hasher
from monitor.identity.records import IdentityRecords
from monitor.identity.service import IdentityService
from monitor.identity.signing import SigningService
from monitor.store.audit_journal import AuditJournal
from monitor.store.base import AuditEntry

log = logging.getLogger(__name__)

#: identity's action words -> the audit trail's dotted actions (docs/audit.md)
ACTIONS: Final = {
    "signed_in": "session.signed_in",
    "signed_out": "session.signed_out",
    "session_ended": "session.ended",
    "sign_in_failed": "session.sign_in_failed",
    "sign_in_refused": "session.sign_in_refused",
    "account_locked": "session.account_locked",
    "password_changed": "user.password_changed",
    "api_token_created": "api_token.created",
    "api_token_revoked": "api_token.revoked",
}


def audit_action(action: str) -> str:
    """``user_added`` -> ``user.added``; the session words per :data:`ACTIONS`."""
    if action in ACTIONS:
        return ACTIONS[action]
    if action.startswith("user_"):
        return "user." + action.removeprefix("user_")
    return "identity." + action


def method_of(source: str) -> str:
    """The audit trail's method of an identity source (``web 127.0.0.1``, ``cli``)."""
    word = source.split(" ", 1)[0]
    return word if word in ("web", "cli") else "system"


def split_actor(actor: str) -> tuple[str | None, str | None]:
    """(user id, OS user) of an identity actor: ``ada``, ``ada (OS user ada)``, ``OS user root``."""
    if actor.startswith("OS user "):
        return None, actor.removeprefix("OS user ")
    user_id, _, rest = actor.partition(" (OS user ")
    return user_id, rest.removesuffix(")") or None


def to_audit_entry(entry: identity.AuditEntry, synchronised: bool | None) -> AuditEntry:
    user_id, os_user = split_actor(entry.actor)
    return AuditEntry(
        at=entry.at,
        action=audit_action(entry.action),
        method=method_of(entry.source),
        user_id=user_id,
        os_user=os_user,
        subject=entry.target,
        reason=entry.reason,
        old=entry.old,
        new=entry.new,
        detail={"source": entry.source},
        clock_synchronised=synchronised,
    )


def audit_sink(
    journal: AuditJournal, synchronised: Callable[[], bool | None]
) -> identity.AuditSink:
    """Identity's audit hook: each entry written now (or kept in the fallback journal while
    the store refuses writes; a sign-in never waits for the disk)."""

    def write(entry: identity.AuditEntry) -> None:
        journal.write([to_audit_entry(entry, synchronised())])

    return write


@dataclass
class IdentityParts:
    records: IdentityRecords
    hasher: Hasher
    service: IdentityService
    signing: SigningService
    """E-signatures for the console's alarm commands (signing time: the daemon's clock,
    with the NTP state the daemon's health knows)."""
    cli_admin: UserAdmin
    """``coldwatch user ...`` on the control socket."""
    web_admin: UserAdmin
    """The users pages (the signed-in admin acts; recorded with method ``web``)."""

    def close(self) -> None:
        self.service.close()  # its hasher too
        self.records.close()


def open_identity(
    store_file: Path,
    web: WebConfig,
    clock: Clock,
    *,
    people: Collection[str],
    on_audit: identity.AuditSink,
    on_event: Callable[[Event], None],
    clock_synchronised: Callable[[], bool | None] | None = None,
) -> IdentityParts:
    records = IdentityRecords(store_file)
    hasher = Hasher()

    def admin(source: str) -> UserAdmin:
        return UserAdmin(
            records,
            clock.now,
            hasher=hasher,
            passwords=web.password,
            known_people=people,
            on_audit=on_audit,
            source=source,
        )

    service = IdentityService(
        records,
        clock,
        hasher=hasher,
        sessions=web.session,
        lockout=web.lockout,
        passwords=web.password,
        on_audit=on_audit,
        on_event=on_event,
    )
    signing = SigningService(service, web.signatures, clock_synchronised)
    return IdentityParts(records, hasher, service, signing, admin("cli"), admin("web"))
