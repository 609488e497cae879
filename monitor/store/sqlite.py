"""The SQLite store: one file, WAL, append-only tables and a hash chain over committed batches.

Durability
    ``journal_mode=WAL`` with ``synchronous=NORMAL``: a commit appends to the WAL without an
    fsync; the WAL is synced at each checkpoint. A committed batch survives a crash or kill of
    the process (it is in the WAL, which the next connection replays); a power loss or OS crash
    can lose the batches committed since the last checkpoint, but never corrupts the file or
    leaves half a batch, so the chain stays verifiable. ``SQLiteStore(..., synchronous="FULL")``
    fsyncs every commit for sites that prefer that trade. The daemon's run markers are made
    durable whatever the setting (:meth:`SQLiteStore.append_durable` for ``daemon_started``,
    :meth:`SQLiteStore.durable_from_now` before ``daemon_stopped``): the next start reads them
    to tell a clean stop from a power loss. ``busy_timeout`` lets a second process
    (``coldwatch verify`` beside a running daemon) wait for the write lock instead of failing.

Concurrency
    One writer connection behind a :class:`threading.Lock` (``check_same_thread=False``), and one
    ``query_only`` reader connection behind its own lock, so queries never wait for a batch being
    written (WAL readers see the last committed state). ``verify()`` uses a connection of its own
    and one read transaction: it checks a consistent snapshot while appends go on.

Modules
    :mod:`monitor.store.sqlite_schema`: connection settings (PRAGMAs), the write transaction
    and the schema migrations, ``monitor/store/migrations/NNNN_name.sql``, applied in order on
    :meth:`SQLiteStore.open`. :mod:`monitor.store.canonical`: the canonical serialization of a
    batch and its hash (the format is described there). :mod:`monitor.store.sqlite_batches`:
    appending a batch to the chain. :mod:`monitor.store.chain`: walking the chain for
    :meth:`SQLiteStore.verify` (:mod:`monitor.store.sqlite_verify`) and
    :meth:`SQLiteStore.purge_before` (:mod:`monitor.store.sqlite_purge`).
    :mod:`monitor.store.sqlite_alarms`: the alarm history and its own hash chain.
    :mod:`monitor.store.sqlite_rollup`: the per-minute roll-up (derived data, outside the chain).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

from monitor.core.file_access import FileAccess
from monitor.core.model import Event, Quality, Reading, utc_now
from monitor.store import (
    sqlite_alarms,
    sqlite_audit,
    sqlite_files,
    sqlite_rollup,
    sqlite_signatures,
)
from monitor.store.base import (
    AlarmRecord,
    AuditEntry,
    AuditQuery,
    BatchInfo,
    ConfigVersion,
    Store,
    StoreError,
    VerifyResult,
)
from monitor.store.canonical import EventColumns, ReadingColumns, from_us, to_us
from monitor.store.sqlite_batches import append_batch
from monitor.store.sqlite_purge import PURGE_LOG, purge, purge_log
from monitor.store.sqlite_schema import (
    APPEND_ONLY_MESSAGE,
    APPLICATION_ID,
    DEFAULT_BUSY_TIMEOUT,
    Migration,
    apply_pragmas,
    connect,
    migrate,
    migrations,
    split_statements,
    write_transaction,
)
from monitor.store.sqlite_verify import verify_snapshot

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
        read_only: bool = False,
        access: FileAccess | None = None,
        rollup: bool = True,
    ) -> None:
        """``rollup``: keep the per-minute roll-up in each batch's transaction (off: it falls
        behind, and the next open completes it; for a bulk import and its benchmark)."""
        self.path = Path(path)
        self.rollup_maintained = rollup
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.read_only = read_only
        self.access = access or FileAccess()
        self._now = now
        self._lock = threading.Lock()  # the writer connection
        self._read_lock = threading.Lock()  # the reader connection
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._durable_until_close = False  # durable_from_now()
        self.schema_version: int | None = None

    # lifecycle

    def open(self) -> None:
        with self._lock, self._read_lock:
            if self._writer is not None:
                return
            writer = reader = None
            try:
                created = sqlite_files.before_open(self.path, self.read_only)
                writer = self._connect()
                self.schema_version = migrate(writer, to_us(self._now()))
                reader = self._connect()
                reader.execute("PRAGMA query_only = ON")
                if not self.read_only:
                    sqlite_files.secure(self.path, self.access, created=created)
            except (sqlite3.Error, StoreError) as exc:
                for conn in (writer, reader):
                    if conn is not None:
                        conn.close()
                if isinstance(exc, StoreError):
                    raise StoreError(f"store {self.path}: {exc}") from exc
                raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
            self._writer, self._reader = writer, reader
        if not self.read_only and self.rollup_maintained:
            try:
                self.complete_rollup()
            except Exception:  # derived data: never a reason for the store not to open
                log.exception(
                    "the per-minute roll-up could not be completed; the readings are intact "
                    "(charts of days may end early): run `coldwatch rollup rebuild`"
                )

    def close(self) -> None:
        with self._lock, self._read_lock:
            was_open = self._writer is not None
            for conn in (self._reader, self._writer):
                if conn is not None:
                    try:
                        conn.close()
                    except sqlite3.Error as exc:  # pragma: no cover - close hardly fails
                        log.warning("closing the store: %s", exc)
            self._writer = self._reader = None
            self._durable_until_close = False
            if was_open and not self.read_only:
                sqlite_files.keep_side_files(self.path, self.access)

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
        return connect(self.path, self.synchronous, self.busy_timeout, read_only=self.read_only)

    def _write_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            raise StoreError(f"the store {self.path} is not open")
        return self._writer

    def _read_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StoreError(f"the store {self.path} is not open")
        return self._reader

    # writing

    @contextlib.contextmanager
    def _write_transaction(
        self, failure: str, *, synced: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """The writer connection, under the write lock, in one :func:`write_transaction`: the
        body's writes are committed together or not at all. An SQLite error becomes a
        :class:`StoreError` that starts with ``failure``. ``synced``: this one commit with
        ``synchronous=FULL`` (the WAL fsynced before it returns), then back to the store's."""
        with self._lock:
            conn = self._write_conn()
            try:
                if synced:
                    conn.execute("PRAGMA synchronous = FULL")
                try:
                    with write_transaction(conn):
                        yield conn
                finally:
                    if synced:
                        self._restore_synchronous(conn)
            except sqlite3.Error as exc:
                raise StoreError(f"{failure}: {exc}") from exc

    def _commit_synchronous(self) -> str:
        return "FULL" if self._durable_until_close else self.synchronous

    def _restore_synchronous(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(f"PRAGMA synchronous = {self._commit_synchronous()}")
        except sqlite3.Error as exc:  # left at FULL: slower, never less durable
            log.warning("the store's commits stay synchronous=FULL: %s", exc)

    def append(self, readings: Sequence[Reading], events: Sequence[Event] = ()) -> BatchInfo | None:
        return self._append(readings, events, synced=False)

    def append_durable(
        self, readings: Sequence[Reading], events: Sequence[Event] = ()
    ) -> BatchInfo | None:
        """One commit with ``synchronous=FULL``: the WAL (this batch and every one before it)
        is fsynced before it returns. About one fsync; the store's other commits keep its
        ``synchronous`` setting."""
        return self._append(readings, events, synced=self._commit_synchronous() != "FULL")

    def durable_from_now(self) -> None:
        """Every later commit with ``synchronous=FULL`` until the store is closed (the daemon's
        stop: its last readings and its ``daemon_stopped`` marker are on disk once committed)."""
        with self._lock:
            try:
                self._write_conn().execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot make the store's commits durable: {exc}") from exc
            self._durable_until_close = True

    def _append(
        self, readings: Sequence[Reading], events: Sequence[Event], *, synced: bool
    ) -> BatchInfo | None:
        if not readings and not events:
            return None
        reading_columns = ReadingColumns.of(readings) if readings else None
        event_columns = EventColumns.of(events) if events else None
        failure = "append failed, nothing of the batch was written"
        with self._write_transaction(failure, synced=synced) as conn:
            return append_batch(
                conn, self._now, reading_columns, event_columns, rollup=self.rollup_maintained
            )

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
        with self._write_transaction("cannot record the configuration") as conn:
            row = conn.execute(
                "SELECT id FROM config_versions WHERE sha256 = ?", (sha256,)
            ).fetchone()
            if row is not None:
                return int(row[0])
            cursor = conn.execute(
                "INSERT INTO config_versions (loaded_at, sha256, sources, effective, person) "
                "VALUES (?, ?, ?, ?, ?)",
                (loaded_at, sha256, json.dumps(list(sources)), effective_json, person),
            )
            return int(cursor.lastrowid or 0)

    def purge_before(self, before: datetime, person: str, reason: str) -> int:
        if not person or not person.strip():
            raise ValueError("a retention purge needs the person who ordered it")
        if not reason or not reason.strip():
            raise ValueError("a retention purge needs a reason")
        cutoff = to_us(before)
        with self._write_transaction("retention purge failed, nothing was removed") as conn:
            return purge(conn, self._now, before, cutoff, person, reason)

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

    def good_counts(
        self, channels: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, int]:
        """How many good readings each channel has with ``start <= ts < end`` (the site
        overview's data completeness); a channel without any is absent."""
        wanted = list(dict.fromkeys(channels))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        sql = (
            f"SELECT channel, count(*) FROM readings WHERE channel IN ({marks}) "
            "AND ts >= ? AND ts < ? AND quality = 'good' GROUP BY channel"
        )
        rows = self._query(sql, [*wanted, to_us(start), to_us(end)])
        return {str(channel): int(n) for channel, n in rows}

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
        return purge_log(self._query(PURGE_LOG, ()))

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._read_lock:
            conn = self._read_conn()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    # the per-minute roll-up (derived data)

    def complete_rollup(self) -> int:
        """Fold into the roll-up every reading it does not include yet (after the migration
        that made it, or a rebuild), in chunks, each its own transaction; how many chunks."""
        chunks = 0
        while True:
            with self._lock:  # an up-to-date store opens without taking the write lock
                try:
                    if not sqlite_rollup.behind(self._write_conn()):
                        break
                except sqlite3.Error as exc:
                    raise StoreError(f"cannot read the roll-up's state: {exc}") from exc
            with self._write_transaction("cannot bring the roll-up up to date") as conn:
                if not sqlite_rollup.catch_up_step(conn):
                    break
            chunks += 1
            if chunks == 1:
                log.info("bringing the per-minute roll-up up to date")
        return chunks

    def rebuild_rollup(self) -> int:
        """Re-derive the whole roll-up from the readings; returns its rows. Only derived data
        changes: the records and their chain are not touched."""
        with self._write_transaction("cannot rebuild the roll-up") as conn:
            sqlite_rollup.reset(conn)
        self.complete_rollup()
        return int(self._query("SELECT count(*) FROM rollup_minutes", ())[0][0])

    def rollup(
        self, channel: str, start: datetime, end: datetime, bucket_minutes: int = 1
    ) -> list[sqlite_rollup.RollupBucket]:
        """The roll-up of ``channel`` over the minutes from ``start`` (floored to its minute)
        to ``end``, in buckets of ``bucket_minutes`` (not part of the Store interface)."""
        start_us = to_us(start)
        start_us -= start_us % sqlite_rollup.MINUTE_US
        with self._read_lock:
            try:
                return sqlite_rollup.buckets(
                    self._read_conn(), channel, start_us, to_us(end), bucket_minutes
                )
            except sqlite3.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    # verification

    def verify(self) -> VerifyResult:
        self._write_conn()  # must be open
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store to verify it: {exc}") from exc
        try:
            return verify_snapshot(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"verification could not read the store: {exc}") from exc
        finally:
            conn.close()

    # the alarm history

    def append_alarm_records(
        self,
        records: Sequence[AlarmRecord],
        timers: Mapping[str, Mapping[str, Any] | None] | None = None,
    ) -> list[AlarmRecord]:
        if not records and not timers:
            return []
        for record in records:  # a signature that cannot be written: nothing is
            sqlite_signatures.signature_in(record)
        now_us = to_us(self._now())
        with self._write_transaction("alarm records not written") as conn:
            committed = sqlite_alarms.append(conn, records, timers or {}, now_us)
            sqlite_signatures.append(conn, committed, now_us)
            audited = sqlite_audit.entries_of_alarm_records(committed, self._clock_state())
            sqlite_audit.append(conn, audited)
            return committed

    # electronic signatures

    def signatures(
        self, table: str | None = None, record_seq: int | None = None
    ) -> list[sqlite_signatures.StoredSignature]:
        """The signatures of one record (``table``, ``record_seq``), or all, oldest first
        (not part of the Store interface)."""
        sql, params = sqlite_signatures.select(table, record_seq)
        return [sqlite_signatures.stored_of(row) for row in self._query(sql, params)]

    # the audit trail

    def _clock_state(self) -> bool | None:
        return None if self.clock_synchronised is None else self.clock_synchronised()

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditEntry]:
        if not entries:
            return []
        with self._write_transaction("audit entries not written") as conn:
            return sqlite_audit.append(conn, entries)

    def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        sql, params = sqlite_audit.select(query)
        return [sqlite_audit.entry_of(row) for row in self._query(sql, params)]

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
