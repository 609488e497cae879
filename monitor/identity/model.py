"""The vocabulary of identity: a user's versions, who acts, who is signed in, and the audit
hook the audit trail connects to."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from monitor.identity.roles import Role

ActorKind = Literal["user", "os_user"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: an admin user (``kind`` user, with the OS account it came from),
    or, for the very first admin only, the OS user on the command line."""

    id: str
    kind: ActorKind
    os_user: str | None = None

    def __str__(self) -> str:
        if self.kind == "os_user":
            return f"OS user {self.id}"
        return self.id if self.os_user is None else f"{self.id} (OS user {self.os_user})"


@dataclass(frozen=True, slots=True)
class UserVersion:
    """A user's whole state after one change (``change``: added, disabled, enabled, role,
    person, password_reset, password_changed), who made it and why."""

    at: datetime
    user_id: str
    version: int
    change: str
    printed_name: str
    role: Role
    enabled: bool
    person_id: str | None
    password_hash: str | None = field(repr=False)
    password_set: datetime | None
    password_one_time: bool
    changed_by: str
    changed_by_kind: ActorKind
    os_user: str | None
    verified_by: str | None
    reason: str

    @property
    def can_sign(self) -> bool:
        """Whether this user may apply an e-signature: enabled, with a password of their own
        (a one-time password from an admin's reset never signs, 21 CFR 11.200(a)(3))."""
        return self.enabled and self.password_hash is not None and not self.password_one_time

    def public(self) -> dict[str, Any]:
        """What may be shown or sent: everything but the password hash."""
        return {
            "user_id": self.user_id,
            "version": self.version,
            "change": self.change,
            "printed_name": self.printed_name,
            "role": self.role.value,
            "enabled": self.enabled,
            "person_id": self.person_id,
            "password_set": self.password_set.isoformat() if self.password_set else None,
            "password_one_time": self.password_one_time,
            "changed_by": self.changed_by,
            "changed_by_kind": self.changed_by_kind,
            "os_user": self.os_user,
            "verified_by": self.verified_by,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


class Via(enum.StrEnum):
    SESSION = "session"
    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a web request comes from. ``session_id`` names the session (never its token) or
    the API token; ``signed_in_session`` (continuous session): when the holder first signed
    with user id and password in this session, None before (21 CFR 11.200(a)(1)).

    For an API token that acts for a person, ``user_id`` is its owner's and ``person_id``
    the ``people:`` entry linked to the owner (what an acknowledgement is attributed to);
    a machine's token (no owner) is its own ``user_id`` (the token id) with no person."""

    user_id: str
    role: Role
    printed_name: str
    via: Via
    session_id: str
    may_sign: bool
    signed_in_session: datetime | None = None
    person_id: str | None = None


class SignInOutcome(enum.StrEnum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    """Unknown user, wrong password or disabled account: never said which."""
    LOCKED = "locked"
    MUST_CHANGE_PASSWORD = "must_change_password"
    """A one-time password from an admin's reset: change it (:meth:`change_password`)."""
    EXPIRED = "expired"
    """The password is past its expiry: change it."""


@dataclass(frozen=True, slots=True)
class SignInResult:
    outcome: SignInOutcome
    token: str | None = field(default=None, repr=False)
    """The session token (only with OK): give it to the browser, never store or log it."""
    principal: Principal | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is SignInOutcome.OK


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing the audit trail must hold: who (``actor``), what (``action`` on ``target``),
    when, from where (``source``), why, and the old and new values (never a secret)."""

    at: datetime
    actor: str
    action: str
    target: str | None
    source: str
    reason: str | None = None
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None


AuditSink = Callable[[AuditEntry], None]
"""Where identity's audit entries go (the audit trail connects here: ``on_audit(entry)``).
It is called after the change is recorded; if it raises, the caller sees the error."""
