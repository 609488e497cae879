"""The SQLite store: one file, WAL, append-only tables and a hash chain over committed batches.

Durability
    ``journal_mode=WAL`` with ``synchronous=NORMAL``: a commit appends to the WAL without an
    fsync; the WAL is synced at each checkpoint. A committed batch survives a crash or kill of
    the process (it is in the WAL, which the next connection replays); a power loss or OS crash
    can lose the batches committed since the last checkpoint, but never corrupts the file or
    leaves half a batch, so the chain stays verifiable. ``SQLiteStore(..., synchronous="FULL")``
    fsyncs every commit for sites that prefer that trade. ``busy_timeout`` lets a second process
    (``coldwatch verify`` beside a running daemon) wait for the write lock instead of failing.

Concurrency
    One writer connection behind a :class:`threading.Lock` (``check_same_thread=False``), and one
    ``query_only`` reader connection behind its own lock, so queries never wait for a batch being
    written (WAL readers see the last committed state). ``verify()`` uses a connection of its own
    and one read transaction: it checks a consistent snapshot while appends go on.

Modules
    :mod:`monitor.store.sqlite_schema`: connection settings (PRAGMAs) and the schema
    migrations, ``monitor/store/migrations/NNNN_name.sql``, applied in order on
    :meth:`SQLiteStore.open`. :mod:`monitor.store.canonical`: the canonical serialization of a
    batch and its hash (the format is described there). :mod:`monitor.store.chain`: walking the
    chain for :meth:`SQLiteStore.verify` and :meth:`SQLiteStore.purge_before`.
    :mod:`monitor.store.sqlite_alarms`: the alarm history and its own hash chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from monitor.core.model import Event, EventKind, Quality, Reading, utc_now
from monitor.store import sqlite_alarms
from monitor.store.base import (
    AlarmRecord,
    BatchInfo,
    ConfigVersion,
    Store,
    StoreError,
    VerifyResult,
)
from monitor.store.canonical import (
    GENESIS_HASH,
    HASH_FORMAT,
    EventColumns,
    ReadingColumns,
    batch_hash,
    from_us,
    to_us,
)
from monitor.store.chain import (
    ChainProblem,
    Walked,
    check_configs,
    check_coverage,
    check_purge_event,
    find_anchor,
    walk,
)
from monitor.store.sqlite_schema import (
    APPEND_ONLY_MESSAGE,
    APPLICATION_ID,
    DEFAULT_BUSY_TIMEOUT,
    Migration,
    apply_pragmas,
    connect,
    migrate,
    migrations,
    rollback,
    split_statements,
)

__all__ = [  # the store, and the names other code imports from here
    "APPEND_ONLY_MESSAGE",
    "APPLICATION_ID",
    "DEFAULT_BUSY_TIMEOUT",
    "Migration",
    "SQLiteStore",
    "apply_pragmas",
    "connect",
    "from_us",
    "migrations",
    "split_statements",
    "to_us",
]

log = logging.getLogger(__name__)

_QUALITY_OF: Final[dict[str, Quality]] = {q.value: q for q in Quality}

_INSERT_READING: Final = (
    "INSERT INTO readings (id, channel, ts, value, quality, flags, detail, batch) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT: Final = (
    "INSERT INTO events (id, ts, kind, source, message, data, person, batch) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_BATCH: Final = (
    "INSERT INTO batches (seq, format, committed_at, first_reading_id, last_reading_id, "
    "readings, first_event_id, last_event_id, events, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_READING_AUTO_ID: Final = (
    "INSERT INTO readings (channel, ts, value, quality, flags, detail, batch) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The highest ids in the tables, and the highest ids the last retention purge removed: new
# ids continue after both, so no id is ever used twice.
_ID_MARKS: Final = (
    "SELECT coalesce((SELECT max(id) FROM readings), 0), "
    "       coalesce((SELECT max(reading_id_hw) FROM purges), 0), "
    "       coalesce((SELECT max(id) FROM events), 0), "
    "       coalesce((SELECT max(event_id_hw) FROM purges), 0)"
)


def _next_ids(conn: sqlite3.Connection) -> tuple[int, int, bool]:
    """The highest reading and event ids used so far; whether SQLite's own next reading id
    (max(id) + 1) is the right one."""
    readings_max, readings_purged, events_max, events_purged = conn.execute(_ID_MARKS).fetchone()
    reading_hw = max(readings_max, readings_purged)
    return reading_hw, max(events_max, events_purged), readings_max == reading_hw


_READING_COLUMNS: Final = "channel, ts, value, quality, flags, detail"
_EVENT_COLUMNS: Final = "ts, kind, source, message, data, person"


class SQLiteStore(Store):
    """The system of record in one SQLite file. See the module docstring for the design."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._now = now
        self._lock = threading.Lock()  # the writer connection
        self._read_lock = threading.Lock()  # the reader connection
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self.schema_version: int | None = None

    # lifecycle

    def open(self) -> None:
        with self._lock, self._read_lock:
            if self._writer is not None:
                return
            writer = reader = None
            try:
                writer = self._connect()
                self.schema_version = migrate(writer, to_us(self._now()))
                reader = self._connect()
                reader.execute("PRAGMA query_only = ON")
            except (sqlite3.Error, StoreError) as exc:
                for conn in (writer, reader):
                    if conn is not None:
                        conn.close()
                if isinstance(exc, StoreError):
                    raise StoreError(f"store {self.path}: {exc}") from exc
                raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
            self._writer, self._reader = writer, reader

    def close(self) -> None:
        with self._lock, self._read_lock:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    try:
                        conn.close()
                    except sqlite3.Error as exc:  # pragma: no cover - close hardly fails
                        log.warning("closing the store: %s", exc)
            self._writer = self._reader = None

    def __enter__(self) -> SQLiteStore:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self.synchronous, self.busy_timeout)

    def _write_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise StoreError(f"the store {self.path} is not open")
        return self._writer

    def _read_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StoreError(f"the store {self.path} is not open")
        return self._reader

    # writing

    def append(self, readings: Sequence[Reading], events: Sequence[Event] = ()) -> BatchInfo | None:
        if not readings and not events:
            return None
        reading_columns = ReadingColumns.of(readings) if readings else None
        event_columns = EventColumns.of(events) if events else None
        with self._lock:
            conn = self._write_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    info = self._append_locked(conn, reading_columns, event_columns)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"append failed, nothing of the batch was written: {exc}") from exc
        return info

    def _append_locked(
        self,
        conn: sqlite3.Connection,
        rc: ReadingColumns | None,
        ec: EventColumns | None,
    ) -> BatchInfo:
        seq, prev_hash = self._chain_head(conn)
        reading_hw, event_hw, automatic_ids = _next_ids(conn)
        committed = to_us(self._now())
        n_r = len(rc.ts) if rc is not None else 0
        n_e = len(ec.ts) if ec is not None else 0
        first_r, last_r = (reading_hw + 1, reading_hw + n_r) if n_r else (None, None)
        first_e, last_e = (event_hw + 1, event_hw + n_e) if n_e else (None, None)

        if rc is not None:
            rows = zip(
                rc.channels, rc.ts, rc.values, rc.qualities, rc.flags, rc.details, repeat(seq)
            )
            if automatic_ids:  # cheaper for SQLite than checking each explicit id
                conn.executemany(_INSERT_READING_AUTO_ID, rows)
            else:  # the newest readings were purged: continue after the purged ids
                ids = range(reading_hw + 1, reading_hw + n_r + 1)
                conn.executemany(
                    _INSERT_READING, ((i, *row) for i, row in zip(ids, rows, strict=True))
                )
            if conn.execute("SELECT last_insert_rowid()").fetchone()[0] != last_r:
                raise StoreError("reading ids were not allocated in sequence; nothing written")
        if ec is not None:
            conn.executemany(
                _INSERT_EVENT,
                zip(
                    range(event_hw + 1, event_hw + n_e + 1),
                    ec.ts,
                    ec.kinds,
                    ec.sources,
                    ec.messages,
                    ec.data,
                    ec.persons,
                    repeat(seq),
                ),
            )
        header = (seq, committed, n_r, first_r or 0, last_r or 0, n_e, first_e or 0, last_e or 0)
        digest = batch_hash(
            prev_hash,
            header,
            rc.hashed if rc is not None else b"",
            ec.hashed if ec is not None else b"",
        )
        conn.execute(
            _INSERT_BATCH,
            (
                seq,
                HASH_FORMAT,
                committed,
                first_r,
                last_r,
                n_r,
                first_e,
                last_e,
                n_e,
                prev_hash,
                digest,
            ),
        )
        return BatchInfo(seq, n_r, n_e, digest)

    @staticmethod
    def _chain_head(conn: sqlite3.Connection) -> tuple[int, str]:
        """The next batch's seq and prev_hash."""
        row = conn.execute("SELECT seq, hash FROM batches ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None:
            return row[0] + 1, row[1]
        purge = conn.execute(
            "SELECT last_seq, anchor_hash FROM purges ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if purge is not None:
            return purge[0] + 1, purge[1]
        return 1, GENESIS_HASH

    def record_config(
        self,
        effective_json: str,
        sha256: str,
        sources: Sequence[str],
        at: datetime,
        person: str | None,
    ) -> int:
        if hashlib.sha256(effective_json.encode("utf-8")).hexdigest() != sha256:
            raise ValueError("sha256 is not the SHA-256 of effective_json")
        if not isinstance(json.loads(effective_json), dict):
            raise ValueError("effective_json must be a JSON object")
        loaded_at = to_us(at)
        with self._lock:
            conn = self._write_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(
                        "SELECT id FROM config_versions WHERE sha256 = ?", (sha256,)
                    ).fetchone()
                    if row is not None:
                        version = int(row[0])
                    else:
                        cursor = conn.execute(
                            "INSERT INTO config_versions "
                            "(loaded_at, sha256, sources, effective, person) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (loaded_at, sha256, json.dumps(list(sources)), effective_json, person),
                        )
                        version = int(cursor.lastrowid or 0)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot record the configuration: {exc}") from exc
        return version

    def purge_before(self, before: datetime, person: str, reason: str) -> int:
        if not person or not person.strip():
            raise ValueError("a retention purge needs the person who ordered it")
        if not reason or not reason.strip():
            raise ValueError("a retention purge needs a reason")
        cutoff = to_us(before)
        with self._lock:
            conn = self._write_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    removed = self._purge_locked(conn, before, cutoff, person, reason)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"retention purge failed, nothing was removed: {exc}") from exc
        return removed

    def _purge_locked(
        self, conn: sqlite3.Connection, before: datetime, cutoff: int, person: str, reason: str
    ) -> int:
        purged: list[Walked] = []
        try:
            anchor, _ = find_anchor(conn)
            with contextlib.closing(walk(conn, anchor)) as walker:
                for walked in walker:
                    if walked.max_ts is None or walked.max_ts >= cutoff:
                        break
                    purged.append(walked)
        except ChainProblem as problem:
            raise StoreError(
                f"refusing to purge records that do not verify: {problem.message}"
            ) from None
        if not purged:
            return 0
        first, last = purged[0], purged[-1]
        n_r = sum(w.readings for w in purged)
        n_e = sum(w.events for w in purged)
        _, event_hw, _ = _next_ids(conn)
        conn.execute("UPDATE purge_guard SET active = 1 WHERE id = 1")
        deleted_r = conn.execute("DELETE FROM readings WHERE id <= ?", (last.reading_hw,)).rowcount
        deleted_e = conn.execute("DELETE FROM events WHERE id <= ?", (last.event_hw,)).rowcount
        conn.execute("DELETE FROM batches WHERE seq <= ?", (last.seq,))
        conn.execute("UPDATE purge_guard SET active = 0 WHERE id = 1")
        if (deleted_r, deleted_e) != (n_r, n_e):
            raise StoreError(
                f"retention purge found {deleted_r} readings and {deleted_e} events to remove, "
                f"expected {n_r} and {n_e}; nothing was removed"
            )
        now = self._now()
        cursor = conn.execute(
            "INSERT INTO purges (purged_at, before_ts, person, reason, first_seq, last_seq, "
            "anchor_hash, readings, events, reading_id_hw, event_id_hw, event_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                to_us(now),
                cutoff,
                person,
                reason,
                first.seq,
                last.seq,
                last.hash,
                n_r,
                n_e,
                last.reading_hw,
                last.event_hw,
                event_hw + 1,
            ),
        )
        data = {
            "purge_id": cursor.lastrowid,
            "first_seq": first.seq,
            "last_seq": last.seq,
            "anchor_hash": last.hash,
            "reading_id_hw": last.reading_hw,
            "event_id_hw": last.event_hw,
            "readings": n_r,
            "events": n_e,
            "before": before.astimezone(UTC).isoformat(),
            "reason": reason,
        }
        message = (
            f"retention purge of batches {first.seq}..{last.seq} (records before "
            f"{data['before']}): {n_r} readings and {n_e} events removed; reason: {reason}"
        )
        event = Event(now, EventKind.RETENTION_PURGE, "store", message, data, person)
        self._append_locked(conn, None, EventColumns.of([event]))
        log.warning("%s (by %s)", message, person)
        return n_r

    # reading

    def readings(
        self,
        channel: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> list[Reading]:
        sql = f"SELECT {_READING_COLUMNS} FROM readings WHERE channel = ?"
        params: list[Any] = [channel]
        if start is not None:
            sql += " AND ts >= ?"
            params.append(to_us(start))
        if end is not None:
            sql += " AND ts < ?"
            params.append(to_us(end))
        sql += " ORDER BY ts, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_reading(row) for row in self._query(sql, params)]

    def latest(self, channels: Sequence[str]) -> dict[str, Reading]:
        sql = (
            f"SELECT {_READING_COLUMNS} FROM readings WHERE channel = ? "
            "ORDER BY ts DESC, id DESC LIMIT 1"
        )
        with self._read_lock:
            conn = self._read_conn()
            try:
                found = {c: conn.execute(sql, (c,)).fetchone() for c in dict.fromkeys(channels)}
            except sqlite3.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc
        return {c: _reading(row) for c, row in found.items() if row is not None}

    def events(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        kinds: Sequence[str] | None = None,
        source: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Event]:
        clauses: list[str] = []
        params: list[Any] = []
        if start is not None:
            clauses.append("ts >= ?")
            params.append(to_us(start))
        if end is not None:
            clauses.append("ts < ?")
            params.append(to_us(end))
        if kinds is not None:
            if not kinds:
                return []
            clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(str(k) for k in kinds)
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        sql = f"SELECT {_EVENT_COLUMNS} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY ts DESC, id DESC" if newest_first else " ORDER BY ts, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [
            Event(from_us(ts), kind, src, message, json.loads(data), person)
            for ts, kind, src, message, data, person in self._query(sql, params)
        ]

    def config_versions(self) -> list[ConfigVersion]:
        rows = self._query(
            "SELECT id, loaded_at, sha256, sources, effective, person FROM config_versions "
            "ORDER BY id",
            (),
        )
        return [
            ConfigVersion(cid, from_us(at), sha, json.loads(sources), json.loads(eff), person)
            for cid, at, sha, sources, eff, person in rows
        ]

    def purges(self) -> list[dict[str, Any]]:
        """The retention purge log, oldest first (not part of the Store interface)."""
        rows = self._query(
            "SELECT id, purged_at, before_ts, person, reason, first_seq, last_seq, anchor_hash, "
            "readings, events FROM purges ORDER BY id",
            (),
        )
        keys = (
            "id",
            "purged_at",
            "before",
            "person",
            "reason",
            "first_seq",
            "last_seq",
            "anchor_hash",
            "readings",
            "events",
        )
        result = [dict(zip(keys, row, strict=True)) for row in rows]
        for entry in result:
            entry["purged_at"] = from_us(entry["purged_at"])
            entry["before"] = from_us(entry["before"])
        return result

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._read_lock:
            conn = self._read_conn()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    # verification

    def verify(self) -> VerifyResult:
        self._write_conn()  # must be open
        batches = readings = events = 0
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store to verify it: {exc}") from exc
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")  # one read transaction: a consistent snapshot
            try:
                anchor, purges = find_anchor(conn)
                reading_hw, event_hw, next_seq = anchor.reading_hw, anchor.event_hw, anchor.next_seq
                for walked in walk(conn, anchor):
                    batches += 1
                    readings += walked.readings
                    events += walked.events
                    reading_hw, event_hw, next_seq = (
                        walked.reading_hw,
                        walked.event_hw,
                        walked.seq + 1,
                    )
                check_coverage(conn, "readings", anchor.reading_hw, reading_hw, next_seq)
                check_coverage(conn, "events", anchor.event_hw, event_hw, next_seq)
                if purges:
                    check_purge_event(conn, purges[-1])
                check_configs(conn)
                alarm_records = sqlite_alarms.check_chain(conn)
            except ChainProblem as problem:
                return VerifyResult(False, batches, readings, events, problem.seq, problem.message)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"verification could not read the store: {exc}") from exc
        finally:
            conn.close()
        return VerifyResult(True, batches, readings, events, alarm_records=alarm_records)

    # the alarm history

    def append_alarm_records(
        self,
        records: Sequence[AlarmRecord],
        timers: Mapping[str, Mapping[str, Any] | None] | None = None,
    ) -> list[AlarmRecord]:
        if not records and not timers:
            return []
        with self._lock:
            conn = self._write_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    out = sqlite_alarms.append(conn, records, timers or {}, to_us(self._now()))
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"alarm records not written: {exc}") from exc
        return out

    def alarm_records(
        self,
        *,
        after_seq: int = 0,
        key: str | None = None,
        code: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AlarmRecord]:
        sql, params = sqlite_alarms.select(
            after_seq=after_seq,
            key=key,
            code=code,
            since=since,
            limit=limit,
            newest_first=newest_first,
        )
        return [sqlite_alarms.record_of(row) for row in self._query(sql, params)]

    def alarm_latest(self) -> dict[str, AlarmRecord]:
        rows = self._query(sqlite_alarms.LATEST, ())
        return {r.key: r for r in map(sqlite_alarms.record_of, rows)}

    def alarm_timers(self) -> dict[str, dict[str, Any]]:
        return {key: json.loads(data) for key, data in self._query(sqlite_alarms.TIMERS, ())}


def _reading(row: tuple[Any, ...]) -> Reading:
    channel, ts, value, quality, flags, detail = row
    try:
        q = _QUALITY_OF[quality]
    except KeyError:
        raise StoreError(f"reading of {channel} has an unknown quality {quality!r}") from None
    return Reading(channel, from_us(ts), value, q, flags, detail)
