"""The notification log in SQLite: its own append-only table, in the store's file if given one.

The table ``notification_log`` is created here (``IF NOT EXISTS``) rather than by the store's
migrations, which it will join later; triggers refuse UPDATE and DELETE, as on the store's
record tables, so a status change is always a new row. Every row is hash-chained to the one
before it (``prev_hash``, ``hash``: :mod:`monitor.store.side_chain`), so an edit made around
the triggers shows in ``coldwatch verify``; a table made by an earlier coldwatch gets the
columns at the first open, its rows sealed under an anchor.

The connection uses the store's PRAGMAs (WAL, busy timeout) with ``synchronous=FULL``: an
intent must be on disk before the SMS leaves, or a power cut could both send the page and
forget it was sent. Pages are rare; the fsync is cheap at that rate.

Sharing the store's file: open the store first. The store refuses a new file that already has
tables but no ``schema_migrations`` (it cannot tell it from somebody else's database).
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from alarms.notify.notification_log import LogRecord, Status
from monitor.store import side_chain
from monitor.store.canonical import from_us, to_us
from monitor.store.side_chain import NOTIFICATION_LOG, open_side_log
from monitor.store.sqlite_schema import append_only_triggers

SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS notification_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_us INTEGER NOT NULL,
    key TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'exhausted')),
    possible_duplicate INTEGER NOT NULL,
    outcome_unknown INTEGER NOT NULL,
    final INTEGER NOT NULL,
    retryable INTEGER,
    provider_id TEXT,
    error TEXT,
    notification TEXT,
    recorded_late_us INTEGER,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX IF NOT EXISTS notification_log_delivery ON notification_log (key, person_id, seq);
CREATE INDEX IF NOT EXISTS notification_log_alarm ON notification_log (alarm_id, seq);
CREATE INDEX IF NOT EXISTS notification_log_at ON notification_log (at_us);
{append_only_triggers("notification_log")}
"""

_COLUMNS: Final = ", ".join(("seq", *NOTIFICATION_LOG.columns))


class SQLiteLog:
    """A :class:`~alarms.notify.notification_log.NotificationLog` in ``path`` (``None``: in
    memory)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._conn = open_side_log(path, SCHEMA, NOTIFICATION_LOG)
        self._lock = threading.Lock()

    def append(self, record: LogRecord) -> LogRecord:
        row = (
            to_us(record.at),
            record.key,
            record.alarm_id,
            record.person_id,
            record.channel,
            record.attempt,
            record.status,
            int(record.possible_duplicate),
            int(record.outcome_unknown),
            int(record.final),
            None if record.retryable is None else int(record.retryable),
            record.provider_id,
            record.error,
            record.notification,
            None if record.recorded_late is None else to_us(record.recorded_late),
        )
        with self._lock:
            (seq,) = side_chain.append(self._conn, NOTIFICATION_LOG, (row,))
        return _record((seq, *row))

    def history(self, key: str, person_id: str) -> list[LogRecord]:
        return self._select("key = ? AND person_id = ?", (key, person_id))

    def for_alarm(self, alarm_id: str) -> list[LogRecord]:
        return self._select("alarm_id = ?", (alarm_id,))

    def unfinished(self, since: datetime | None = None) -> list[tuple[str, str]]:
        query = (
            "SELECT key, person_id, MIN(seq) AS first FROM notification_log "
            "GROUP BY key, person_id "
            "HAVING SUM(status IN ('sent', 'exhausted')) = 0 AND MIN(at_us) >= ? "
            "ORDER BY first"
        )
        low = to_us(since) if since is not None else -(2**62)
        with self._lock:
            rows = self._conn.execute(query, (low,)).fetchall()
        return [(str(k), str(p)) for k, p, _ in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _select(self, where: str, args: tuple[Any, ...]) -> list[LogRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM notification_log WHERE {where} ORDER BY seq", args
            ).fetchall()
        return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> LogRecord:
    (seq, at_us, key, alarm_id, person_id, channel, attempt, status, dup, unknown, final,
     retryable, provider_id, error, notification, recorded_late_us) = row  # fmt: skip
    status_: Status = status
    return LogRecord(
        key=key,
        alarm_id=alarm_id,
        person_id=person_id,
        channel=channel,
        attempt=attempt,
        status=status_,
        at=from_us(at_us),
        possible_duplicate=bool(dup),
        outcome_unknown=bool(unknown),
        final=bool(final),
        retryable=None if retryable is None else bool(retryable),
        provider_id=provider_id,
        error=error,
        notification=notification,
        recorded_late=None if recorded_late_us is None else from_us(recorded_late_us),
        seq=seq,
    )
