"""User administration: what ``coldwatch user add|disable|enable|reset-password|role`` and an
admin's API token commands do, on whichever side holds the store (the daemon, or the command
line when no daemon runs).

Every change appends a new version of the user (never an edit): who made it, from which OS
account, and why. A user id is never reused; a user is disabled, never deleted. Only an enabled
``admin`` user acts here, except for the very first admin, whom the OS user on the command line
creates while the store has no user at all. There is no default account and no default
password: the first admin's password is typed by that person.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from monitor.identity.model import Actor, AuditEntry, AuditSink, UserVersion
from monitor.identity.passwords import Hasher, PasswordRejected, check_rules, one_time_password
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Permission, Role, allows, within
from monitor.identity.service import token_hash
from monitor.identity.settings import PasswordSettings

log = logging.getLogger("monitor.identity")

USER_ID_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MAX_NAME: Final = 200
MAX_REASON: Final = 500
MAX_TOKEN_DAYS: Final = 366


class AdminRefused(Exception):
    """The change is not allowed; the message says why (never a password)."""


@dataclass(frozen=True, slots=True)
class NewToken:
    token_id: str
    token: str
    expires: datetime


def _text(value: str, what: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise AdminRefused(f"{what} must not be empty")
    if len(text) > limit:
        raise AdminRefused(f"{what} has at most {limit} characters")
    return text


class UserAdmin:
    """Synchronous: call it from a worker thread, never on the event loop (the control
    socket's handlers and the users pages do). Every password is hashed in ``hasher``'s pool
    (:meth:`~monitor.identity.passwords.Hasher.hash_blocking`), so the daemon never hashes
    more than two at once, however many admins act together."""

    def __init__(
        self,
        records: IdentityRecords,
        now: Callable[[], datetime],
        *,
        hasher: Hasher | None = None,
        passwords: PasswordSettings | None = None,
        known_people: Collection[str] | None = None,
        on_audit: AuditSink | None = None,
        source: str = "cli",
    ) -> None:
        self.records = records
        self.now = now
        self.hasher = hasher or Hasher(workers=1)
        self.passwords = passwords or PasswordSettings()
        self.known_people = None if known_people is None else frozenset(known_people)
        self.on_audit = on_audit
        self.source = source

    # who acts

    def acting_admin(self, os_user: str, person_id: str | None) -> Actor:
        """The admin an OS user acts as: the enabled admin user linked to the person whose
        ``os_users`` list that OS account; else :class:`AdminRefused`."""
        user_id = self.records.user_of_person(person_id) if person_id else None
        user = self.records.user(user_id) if user_id else None
        if user is None or not user.enabled or not allows(user.role, Permission.MANAGE_USERS):
            who = f"person {person_id}" if person_id else "no coldwatch person (people[].os_users)"
            raise AdminRefused(
                f"OS user {os_user} ({who}) is not linked to an enabled admin user; only an "
                "admin manages users"
            )
        return Actor(user.user_id, "user", os_user)

    def acting_user(self, os_user: str, person_id: str | None) -> Actor:
        """The user an OS user acts as, whatever their role: the enabled user linked to the
        person whose ``os_users`` list that OS account; else :class:`AdminRefused`."""
        user_id = self.records.user_of_person(person_id) if person_id else None
        user = self.records.user(user_id) if user_id else None
        if user is None or not user.enabled:
            who = f"person {person_id}" if person_id else "no coldwatch person (people[].os_users)"
            raise AdminRefused(f"OS user {os_user} ({who}) is not linked to an enabled user")
        return Actor(user.user_id, "user", os_user)

    def first_admin_actor(self, os_user: str) -> Actor:
        if self.records.users():
            raise AdminRefused(
                "--first-admin is only for a store without users; an existing admin adds users"
            )
        return Actor(os_user, "os_user", os_user)

    # changes

    def add_user(
        self,
        actor: Actor,
        user_id: str,
        printed_name: str,
        role: Role,
        password: str,
        *,
        verified_by: str | None,
        reason: str,
        person_id: str | None = None,
    ) -> UserVersion:
        if not USER_ID_PATTERN.match(user_id):
            raise AdminRefused(
                "a user id is 2 to 64 lower-case letters, digits, '.', '_' or '-', starting with "
                "a letter or digit"
            )
        if self.records.user(user_id) is not None:
            raise AdminRefused(f"user id {user_id} exists already (a user id is never reused)")
        if actor.kind == "os_user":  # the first admin: nobody else can have verified them
            if role is not Role.ADMIN:
                raise AdminRefused("the first user must be an admin")
            verifier = f"OS user {actor.id}"
        else:
            verifier = self._verifier(verified_by)
        self._check_person(person_id, user_id)
        try:
            check_rules(password, user_id, self.passwords)
        except PasswordRejected as exc:
            raise AdminRefused(str(exc)) from None
        now = self.now()
        version = UserVersion(
            at=now,
            user_id=user_id,
            version=1,
            change="added",
            printed_name=_text(printed_name, "the printed name", MAX_NAME),
            role=role,
            enabled=True,
            person_id=person_id,
            password_hash=self.hasher.hash_blocking(password),
            password_set=now,
            password_one_time=actor.kind != "os_user",  # the new user chooses their own
            changed_by=actor.id,
            changed_by_kind=actor.kind,
            os_user=actor.os_user,
            verified_by=verifier,
            reason=_text(reason, "the reason", MAX_REASON),
        )
        self.records.append_user(version)
        self._audit(actor, "user_added", version, None)
        return version

    def _verifier(self, verified_by: str | None) -> str:
        if not verified_by:
            raise AdminRefused("say which admin verified the person's identity (--verified-by)")
        admin = self.records.user(verified_by)
        if admin is None or not admin.enabled or admin.role is not Role.ADMIN:
            raise AdminRefused(f"--verified-by {verified_by}: not an enabled admin user")
        return admin.user_id

    def _check_person(self, person_id: str | None, user_id: str) -> None:
        if person_id is None:
            return
        if self.known_people is not None and person_id not in self.known_people:
            raise AdminRefused(f"no person {person_id!r} in the configuration (people:)")
        holder = self.records.user_of_person(person_id)
        if holder is not None and holder != user_id:
            raise AdminRefused(f"person {person_id} is linked to user {holder} already")

    def _current(self, user_id: str) -> UserVersion:
        user = self.records.user(user_id)
        if user is None:
            raise AdminRefused(f"no user {user_id}")
        return user

    def _change(
        self, actor: Actor, old: UserVersion, change: str, reason: str, **values: object
    ) -> UserVersion:
        new = replace(
            old,
            at=self.now(),
            version=old.version + 1,
            change=change,
            changed_by=actor.id,
            changed_by_kind=actor.kind,
            os_user=actor.os_user,
            verified_by=None,
            reason=_text(reason, "the reason", MAX_REASON),
            **values,  # type: ignore[arg-type]
        )
        self.records.append_user(new)
        self._audit(actor, f"user_{change}", new, old)
        return new

    def _not_the_last_admin(self, user: UserVersion) -> None:
        admins = [u for u in self.records.users() if u.enabled and u.role is Role.ADMIN]
        if user.role is Role.ADMIN and [a.user_id for a in admins] == [user.user_id]:
            raise AdminRefused(f"{user.user_id} is the last enabled admin: add another first")

    def disable(self, actor: Actor, user_id: str, reason: str) -> UserVersion:
        user = self._current(user_id)
        if not user.enabled:
            raise AdminRefused(f"user {user_id} is disabled already")
        self._not_the_last_admin(user)
        new = self._change(actor, user, "disabled", reason, enabled=False)
        self._end_sessions(user_id, "user_disabled")
        return new

    def enable(self, actor: Actor, user_id: str, reason: str) -> UserVersion:
        user = self._current(user_id)
        if user.enabled:
            raise AdminRefused(f"user {user_id} is enabled already")
        new = self._change(actor, user, "enabled", reason, enabled=True)
        self.records.log_sign_in(self.now(), user_id, "unlocked", self.source, detail="enabled")
        return new

    def set_role(self, actor: Actor, user_id: str, role: Role, reason: str) -> UserVersion:
        user = self._current(user_id)
        if actor.kind == "user" and actor.id == user_id:
            raise AdminRefused("an admin cannot change their own role")
        if user.role is role:
            raise AdminRefused(f"user {user_id} is {role.value} already")
        self._not_the_last_admin(user)
        return self._change(actor, user, "role", reason, role=role)

    def link_person(
        self, actor: Actor, user_id: str, person_id: str | None, reason: str
    ) -> UserVersion:
        user = self._current(user_id)
        self._check_person(person_id, user_id)
        return self._change(actor, user, "person", reason, person_id=person_id)

    def reset_password(self, actor: Actor, user_id: str, reason: str) -> str:
        """A one-time password for ``user_id`` (shown once, changed at the next sign-in, never
        signs); the user's open sessions end."""
        user = self._current(user_id)
        if actor.kind == "user" and actor.id == user_id:
            raise AdminRefused("change your own password at sign-in, not by a reset")
        password = one_time_password()
        while user_id.casefold() in password.casefold():  # pragma: no cover - astronomically rare
            password = one_time_password()
        self._change(
            actor,
            user,
            "password_reset",
            reason,
            password_hash=self.hasher.hash_blocking(password),
            password_set=self.now(),
            password_one_time=True,
        )
        self.records.log_sign_in(self.now(), user_id, "unlocked", self.source, detail="reset")
        self._end_sessions(user_id, "password_reset")
        return password

    def _end_sessions(self, user_id: str, why: str) -> None:
        for session_id in self.records.open_sessions_of(user_id):
            if self.records.end_session(session_id, self.now(), why):
                self.records.log_sign_in(
                    self.now(), user_id, "session_ended", self.source, session_id=session_id,
                    detail=why,
                )  # fmt: skip

    # API tokens

    def create_token(
        self,
        actor: Actor,
        name: str,
        role: Role,
        days: float,
        reason: str,
        *,
        owner: str | None = None,
    ) -> NewToken:
        """A new API token, shown once. ``owner``: the user it acts for (what it does is
        attributed to them; its role at most theirs). Without one it is a machine's, and a
        machine only reads: nothing may be done anonymously."""
        if actor.kind != "user":
            raise AdminRefused("API tokens are created by an admin user")
        if not 0 < days <= MAX_TOKEN_DAYS:
            raise AdminRefused(f"an API token expires within 1 to {MAX_TOKEN_DAYS} days")
        if role is Role.ADMIN:
            raise AdminRefused("an API token cannot be an admin")
        if owner is not None and owner != actor.id:
            # what the token does is recorded as its owner's: only the owner may make it,
            # never an admin for someone else (that would act in their name)
            raise AdminRefused(
                f"--for {owner}: a token that acts for a person is made by that person "
                f"({owner}'s own OS account, mapped to them in people[].os_users)"
            )
        self._check_owner(owner, role)
        token = secrets.token_urlsafe(32)
        token_id = "tok-" + secrets.token_hex(6)
        now = self.now()
        expires = now + timedelta(days=days)
        label = _text(name, "the token's name", MAX_NAME)
        why = _text(reason, "the reason", MAX_REASON)
        self.records.log_token(
            now, token_id, "created", token_hash(token), role, label, expires, actor.id, why,
            owner,
        )  # fmt: skip
        self._audit_token(actor, "api_token_created", token_id, role, label, why, owner)
        return NewToken(token_id, token, expires)

    def _check_owner(self, owner: str | None, role: Role) -> None:
        if owner is None:
            if role is not Role.VIEWER:
                raise AdminRefused(
                    f"a token without an owner is a machine's and only reads (viewer); a token "
                    f"that may {role.value}'s work acts for a person: --for USER_ID"
                )
            return
        user = self.records.user(owner)
        if user is None or not user.enabled:
            raise AdminRefused(f"--for {owner}: not an enabled user")
        if not within(role, user.role):
            raise AdminRefused(
                f"--for {owner}: a token's role is at most its owner's ({owner} is "
                f"{user.role.value}, not {role.value})"
            )

    def revoke_token(self, actor: Actor, token_id: str, reason: str) -> None:
        row = self.records.token(token_id=token_id)
        digest = self.records.token_hash_of(token_id)
        if row is None or digest is None:
            raise AdminRefused(f"no API token {token_id}")
        if row.action == "revoked":
            raise AdminRefused(f"API token {token_id} is revoked already")
        why = _text(reason, "the reason", MAX_REASON)
        self.records.log_token(
            self.now(), token_id, "revoked", digest, row.role, row.name, row.expires, actor.id,
            why, row.owner,
        )  # fmt: skip
        self._audit_token(actor, "api_token_revoked", token_id, row.role, row.name, why, row.owner)

    # the audit hook

    def _audit(self, actor: Actor, action: str, new: UserVersion, old: UserVersion | None) -> None:
        log.info("user %s: %s by %s", new.user_id, action, actor)
        if self.on_audit is not None:
            self.on_audit(
                AuditEntry(
                    new.at,
                    str(actor),
                    action,
                    new.user_id,
                    self.source,
                    new.reason,
                    old.public() if old else None,
                    new.public(),
                )
            )

    def _audit_token(
        self,
        actor: Actor,
        action: str,
        token_id: str,
        role: Role,
        name: str,
        reason: str,
        owner: str | None,
    ) -> None:
        log.info("API token %s (%s): %s by %s", token_id, name, action, actor)
        if self.on_audit is not None:
            self.on_audit(
                AuditEntry(
                    self.now(),
                    str(actor),
                    action,
                    token_id,
                    self.source,
                    reason,
                    None,
                    {"role": role.value, "name": name, "owner": owner},
                )
            )
