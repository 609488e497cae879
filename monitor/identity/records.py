"""Identity's tables in the store's file (``migrations/0003_identity.sql``): user versions,
the sign-in log and the API token log (hash-chained side logs, :mod:`monitor.store.side_chain`),
and the open sessions (working state).

Synchronous and thread-safe (one connection behind a lock); :mod:`monitor.identity.service`
calls it from one thread. Open the store first: its migrations create the tables.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from monitor.identity.model import UserVersion
from monitor.identity.roles import Role
from monitor.store.base import StoreError
from monitor.store.canonical import from_us, to_us
from monitor.store.side_chain import API_TOKEN_LOG, SIGN_IN_LOG, USER_LOG, append
from monitor.store.sqlite_schema import connect, write_transaction

_USER_COLUMNS: Final = ", ".join(USER_LOG.columns)
_LATEST_USERS: Final = (
    f"SELECT {_USER_COLUMNS} FROM user_versions WHERE seq IN "
    "(SELECT max(seq) FROM user_versions GROUP BY user_id)"
)
#: Sign-in log actions after which failed sign-ins are counted afresh (``signature_verified``:
#: the credentials re-entered to sign were right).
RESETS_COUNT: Final = (
    "signed_in", "locked", "unlocked", "password_changed", "signature_verified"
)  # fmt: skip


class UserConflict(StoreError):
    """The user id exists already, or another change to the user came first."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    user_id: str
    source: str
    created: datetime
    last_seen: datetime
    ended: datetime | None
    signed_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    token_id: str
    action: str
    role: Role
    name: str
    expires: datetime
    changed_by: str
    at: datetime
    owner: str | None = None
    """The user the token acts as; None: a machine's token (viewer only)."""


def _version(row: Sequence[Any]) -> UserVersion:
    (at, user_id, version, change, name, role, enabled, person, pw_hash, pw_set, one_time) = row[
        :11
    ]
    changed_by, kind, os_user, verified_by, reason = row[11:]
    return UserVersion(
        at=from_us(at),
        user_id=user_id,
        version=version,
        change=change,
        printed_name=name,
        role=Role(role),
        enabled=bool(enabled),
        person_id=person,
        password_hash=pw_hash,
        password_set=from_us(pw_set) if pw_set is not None else None,
        password_one_time=bool(one_time),
        changed_by=changed_by,
        changed_by_kind=kind,
        os_user=os_user,
        verified_by=verified_by,
        reason=reason,
    )


def _row(v: UserVersion) -> tuple[Any, ...]:
    return (
        to_us(v.at),
        v.user_id,
        v.version,
        v.change,
        v.printed_name,
        v.role.value,
        1 if v.enabled else 0,
        v.person_id,
        v.password_hash,
        to_us(v.password_set) if v.password_set is not None else None,
        1 if v.password_one_time else 0,
        v.changed_by,
        v.changed_by_kind,
        v.os_user,
        v.verified_by,
        v.reason,
    )


class IdentityRecords:
    def __init__(self, store_file: Path) -> None:
        self.path = store_file
        self._lock = threading.Lock()
        conn = None
        try:
            conn = connect(store_file, synchronous="FULL")
            conn.execute("SELECT 1 FROM user_versions LIMIT 1")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open the users in {store_file}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the identity records are closed")
        return self._conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"reading the users failed: {exc}") from exc

    # users

    def user(self, user_id: str) -> UserVersion | None:
        rows = self._query(
            f"SELECT {_USER_COLUMNS} FROM user_versions WHERE user_id = ? "
            "ORDER BY version DESC LIMIT 1",
            (user_id,),
        )
        return _version(rows[0]) if rows else None

    def users(self) -> list[UserVersion]:
        return sorted(map(_version, self._query(_LATEST_USERS)), key=lambda v: v.user_id)

    def history(self, user_id: str) -> list[UserVersion]:
        rows = self._query(
            f"SELECT {_USER_COLUMNS} FROM user_versions WHERE user_id = ? ORDER BY version",
            (user_id,),
        )
        return [_version(r) for r in rows]

    def user_of_person(self, person_id: str) -> str | None:
        """The user linked to ``person_id`` now (its newest version names the person)."""
        for version in self.users():
            if version.person_id == person_id:
                return version.user_id
        return None

    def password_hashes(self, user_id: str, limit: int) -> list[str]:
        """The user's ``limit`` newest distinct password hashes, newest first."""
        found: list[str] = []
        for (encoded,) in self._query(
            "SELECT password_hash FROM user_versions WHERE user_id = ? AND password_hash IS NOT "
            "NULL ORDER BY version DESC",
            (user_id,),
        ):
            if encoded not in found:
                found.append(encoded)
            if len(found) >= limit:
                break
        return found

    def append_user(self, version: UserVersion) -> None:
        """Append ``version``; :class:`UserConflict` if it is not the user's next one."""
        with self._lock:
            try:
                append(self._db(), USER_LOG, [_row(version)])
            except sqlite3.IntegrityError as exc:
                raise UserConflict(
                    f"user {version.user_id}: version {version.version} exists already"
                ) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"user {version.user_id} not changed: {exc}") from exc

    # the sign-in log

    def log_sign_in(
        self,
        at: datetime,
        user_id: str,
        action: str,
        source: str,
        *,
        session_id: str | None = None,
        until: datetime | None = None,
        detail: str | None = None,
    ) -> None:
        row = (
            to_us(at),
            user_id,
            action,
            source,
            session_id,
            to_us(until) if until is not None else None,
            detail,
        )
        with self._lock:
            try:
                append(self._db(), SIGN_IN_LOG, [row])
            except sqlite3.Error as exc:
                raise StoreError(f"sign-in log not written: {exc}") from exc

    def failures_in_a_row(self, user_id: str) -> int:
        """Failed sign-ins of ``user_id`` since its last sign-in, lock, unlock or change."""
        marks = ", ".join("?" * len(RESETS_COUNT))
        rows = self._query(
            "SELECT count(*) FROM sign_in_log WHERE user_id = ? AND action = 'failed' AND seq > "
            f"coalesce((SELECT max(seq) FROM sign_in_log WHERE user_id = ? AND action IN "
            f"({marks})), 0)",
            (user_id, user_id, *RESETS_COUNT),
        )
        return int(rows[0][0])

    def locked_until(self, user_id: str) -> datetime | None:
        """The end of ``user_id``'s newest lock, unless an admin lifted it since."""
        rows = self._query(
            "SELECT action, until_us FROM sign_in_log WHERE user_id = ? AND action IN "
            "('locked', 'unlocked') ORDER BY seq DESC LIMIT 1",
            (user_id,),
        )
        if not rows or rows[0][0] != "locked" or rows[0][1] is None:
            return None
        return from_us(rows[0][1])

    def sign_in_log(self, user_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT seq, at_us, user_id, action, source, session_id, until_us, detail FROM "
        sql += "sign_in_log" + (" WHERE user_id = ?" if user_id is not None else "")
        rows = self._query(sql + " ORDER BY seq", (user_id,) if user_id is not None else ())
        keys = ("seq", "at", "user_id", "action", "source", "session_id", "until", "detail")
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["at"] = from_us(item["at"])
            item["until"] = from_us(item["until"]) if item["until"] is not None else None
            out.append(item)
        return out

    # sessions

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        with self._lock:
            conn = self._db()
            try:
                with write_transaction(conn):
                    return conn.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise StoreError(f"session not written: {exc}") from exc

    def open_session(
        self, session_id: str, token_hash: str, user_id: str, source: str, at: datetime
    ) -> None:
        self._write(
            "INSERT INTO sessions (id, token_hash, user_id, source, created_us, last_seen_us) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, token_hash, user_id, source, to_us(at), to_us(at)),
        )

    def session(self, token_hash: str) -> SessionRow | None:
        rows = self._query(
            "SELECT id, user_id, source, created_us, last_seen_us, ended_us, signed_at_us FROM "
            "sessions WHERE token_hash = ?",
            (token_hash,),
        )
        if not rows:
            return None
        sid, user_id, source, created, seen, ended, signed = rows[0]
        return SessionRow(
            sid,
            user_id,
            source,
            from_us(created),
            from_us(seen),
            from_us(ended) if ended is not None else None,
            from_us(signed) if signed is not None else None,
        )

    def touch_session(self, session_id: str, at: datetime) -> None:
        self._write(
            "UPDATE sessions SET last_seen_us = ? WHERE id = ? AND ended_us IS NULL",
            (to_us(at), session_id),
        )

    def mark_signed(self, session_id: str, at: datetime) -> None:
        """The session's holder signed with user id and password: a continuous session."""
        self._write(
            "UPDATE sessions SET signed_at_us = coalesce(signed_at_us, ?) WHERE id = ?",
            (to_us(at), session_id),
        )

    def end_session(self, session_id: str, at: datetime, reason: str) -> bool:
        """End the session; False if it had ended already."""
        return (
            self._write(
                "UPDATE sessions SET ended_us = ?, end_reason = ? WHERE id = ? AND ended_us IS "
                "NULL",
                (to_us(at), reason, session_id),
            )
            > 0
        )

    def open_sessions_before(self, created_before: datetime) -> list[SessionRow]:
        """Open sessions created at or before ``created_before`` (past the absolute timeout)."""
        rows = self._query(
            "SELECT id, user_id, source, created_us, last_seen_us FROM sessions WHERE ended_us "
            "IS NULL AND created_us <= ? LIMIT 1000",
            (to_us(created_before),),
        )
        return [
            SessionRow(sid, user, source, from_us(created), from_us(seen), None, None)
            for sid, user, source, created, seen in rows
        ]

    def forget_sessions(self, ended_before: datetime) -> int:
        """Remove sessions that ended before ``ended_before``: working state, not a record
        (their sign-in and end are in the sign-in log). How many went."""
        return self._write(
            "DELETE FROM sessions WHERE ended_us IS NOT NULL AND ended_us < ?",
            (to_us(ended_before),),
        )

    def session_count(self) -> int:
        return int(self._query("SELECT count(*) FROM sessions")[0][0])

    def open_sessions_of(self, user_id: str) -> list[str]:
        rows = self._query(
            "SELECT id FROM sessions WHERE user_id = ? AND ended_us IS NULL", (user_id,)
        )
        return [str(r[0]) for r in rows]

    # API tokens

    def log_token(
        self,
        at: datetime,
        token_id: str,
        action: str,
        token_hash: str,
        role: Role,
        name: str,
        expires: datetime,
        changed_by: str,
        reason: str,
        owner: str | None = None,
    ) -> None:
        """``owner``: the user the token acts as (None: a machine's token, viewer only)."""
        row = (
            to_us(at),
            token_id,
            action,
            token_hash,
            role.value,
            name,
            to_us(expires),
            changed_by,
            reason,
            owner,
        )
        with self._lock:
            try:
                append(self._db(), API_TOKEN_LOG, [row])
            except sqlite3.Error as exc:
                raise StoreError(f"API token log not written: {exc}") from exc

    def token(
        self, *, token_hash: str | None = None, token_id: str | None = None
    ) -> TokenRow | None:
        """The newest row of the token with that hash or id."""
        column, value = (
            ("token_hash", token_hash) if token_hash is not None else ("token_id", token_id)
        )
        rows = self._query(
            "SELECT token_id, action, role, name, expires_us, changed_by, at_us, owner FROM "
            "api_token_log WHERE token_id = (SELECT token_id FROM api_token_log WHERE "
            f"{column} = ? LIMIT 1) ORDER BY seq DESC LIMIT 1",
            (value,),
        )
        if not rows:
            return None
        tid, action, role, name, expires, by, at, owner = rows[0]
        return TokenRow(tid, action, Role(role), name, from_us(expires), by, from_us(at), owner)

    def token_hash_of(self, token_id: str) -> str | None:
        rows = self._query(
            "SELECT token_hash FROM api_token_log WHERE token_id = ? LIMIT 1", (token_id,)
        )
        return str(rows[0][0]) if rows else None
