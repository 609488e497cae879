"""The PIN lockout's record, so that a restart does not clear it (an attacker must not get a
fresh set of guesses by crashing or waiting out a restart of the daemon).

One append-only table, ``ack_lockout_log``, in the store's file beside the notification log and
the escalation record (:func:`monitor.store.side_chain.open_side_log`; UPDATE and DELETE
refused by triggers; hash-chained, :mod:`monitor.store.side_chain`): a row per wrong PIN
(``failed``), per lock (``locked``, with when it ends), per count cleared by a right PIN
(``reset``) and per unlock by an administrator (``unlocked``). Times are wall-clock (UTC
microseconds): monotonic time does not survive a restart. At start only the rows of the last
``max(window, duration)`` are read back.

Bounded: only registered phone numbers reach the lockout (an unknown number is refused before
any PIN is looked at), a locked number's guesses are not counted, and a right PIN writes a row
only when there was a count to clear; so a number adds at most ``attempts + 2`` rows per
lockout period, however hard it is hammered, and each of them is also a refusal the store
records anyway. Reading back is limited by time (an index on ``at_us``) and by
:data:`MAX_LOAD` rows. The phone number is stored (it is in the refusal events too); never a PIN.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Literal, Protocol

from monitor.store import side_chain
from monitor.store.canonical import from_us, to_us
from monitor.store.side_chain import LOCKOUT_LOG, open_side_log
from monitor.store.sqlite_schema import append_only_triggers

Action = Literal["failed", "locked", "reset", "unlocked"]

#: Rows read back at start, at most (the newest): far more than registered numbers can write.
MAX_LOAD: Final = 100_000

SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS ack_lockout_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    lock_key TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('failed', 'locked', 'reset', 'unlocked')),
    until_us INTEGER,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX IF NOT EXISTS ack_lockout_log_at ON ack_lockout_log (at_us);
{append_only_triggers("ack_lockout_log")}
"""


@dataclass(frozen=True, slots=True)
class LockoutRow:
    """One change of the lockout of ``key`` (a phone number); ``until`` for ``locked``."""

    at: datetime
    key: str
    action: Action
    until: datetime | None = None


class LockoutLog(Protocol):
    def append(self, rows: Sequence[LockoutRow]) -> None:
        """Write ``rows`` (in one transaction); raises :class:`sqlite3.Error`."""
        ...

    def since(self, at: datetime) -> list[LockoutRow]:
        """The rows written at ``at`` or later, oldest first (the newest :data:`MAX_LOAD`)."""
        ...

    def close(self) -> None: ...


class SQLiteLockoutLog:
    """A :class:`LockoutLog` in ``path`` (``None``: in memory). Sharing the store's file: open
    the store first."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._conn = open_side_log(path, SCHEMA, LOCKOUT_LOG)
        self._lock = threading.Lock()

    def append(self, rows: Sequence[LockoutRow]) -> None:
        values = [
            (to_us(r.at), r.key, r.action, None if r.until is None else to_us(r.until))
            for r in rows
        ]
        with self._lock:
            side_chain.append(self._conn, LOCKOUT_LOG, values)

    def since(self, at: datetime) -> list[LockoutRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT at_us, lock_key, action, until_us FROM ack_lockout_log "
                "WHERE at_us >= ? ORDER BY seq DESC LIMIT ?",
                (to_us(at), MAX_LOAD),
            ).fetchall()
        return [
            LockoutRow(from_us(at_us), key, action, None if until is None else from_us(until))
            for at_us, key, action, until in reversed(rows)
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
