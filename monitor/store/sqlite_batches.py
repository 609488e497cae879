"""Appending one batch of readings and events to the store's hash chain.

A batch gets the next ``seq``, follows on from the chain's head (the newest batch, or the anchor
of the last retention purge), and gets the next row ids after every id used so far, the purged
ones included; its ``batches`` row carries the hash over its rows
(:mod:`monitor.store.canonical`). Shared by :meth:`SQLiteStore.append
<monitor.store.sqlite.SQLiteStore.append>` and the retention purge, which records itself as an
event; both call it inside their own write transaction.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from itertools import repeat
from typing import Any, Final

from monitor.core.logs import RateLimiter
from monitor.store import sqlite_rollup
from monitor.store.base import BatchInfo, StoreError
from monitor.store.canonical import (
    GENESIS_HASH,
    HASH_FORMAT,
    EventColumns,
    ReadingColumns,
    batch_hash,
    to_us,
)

log = logging.getLogger(__name__)

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


def next_ids(conn: sqlite3.Connection) -> tuple[int, int, bool]:
    """The highest reading and event ids used so far; whether SQLite's own next reading id
    (max(id) + 1) is the right one."""
    readings_max, readings_purged, events_max, events_purged = conn.execute(_ID_MARKS).fetchone()
    reading_hw = max(readings_max, readings_purged)
    return reading_hw, max(events_max, events_purged), readings_max == reading_hw


def append_batch(
    conn: sqlite3.Connection,
    now: Callable[[], datetime],
    rc: ReadingColumns | None,
    ec: EventColumns | None,
    *,
    rollup: bool = True,
) -> BatchInfo:
    """Write one batch (its rows and its ``batches`` row) inside the caller's transaction;
    ``now`` gives its commit time. ``rollup``: fold its readings into the per-minute roll-up
    in the same transaction (:mod:`monitor.store.sqlite_rollup`); without, the roll-up falls
    behind until the store is next opened."""
    seq, prev_hash = chain_head(conn)
    reading_hw, event_hw, automatic_ids = next_ids(conn)
    committed = to_us(now())
    n_r = len(rc.ts) if rc is not None else 0
    n_e = len(ec.ts) if ec is not None else 0
    first_r, last_r = (reading_hw + 1, reading_hw + n_r) if n_r else (None, None)
    first_e, last_e = (event_hw + 1, event_hw + n_e) if n_e else (None, None)

    if rc is not None:
        rows = zip(rc.channels, rc.ts, rc.values, rc.qualities, rc.flags, rc.details, repeat(seq))
        if automatic_ids:  # cheaper for SQLite than checking each explicit id
            conn.executemany(_INSERT_READING_AUTO_ID, rows)
        else:  # the newest readings were purged: continue after the purged ids
            ids = range(reading_hw + 1, reading_hw + n_r + 1)
            conn.executemany(_INSERT_READING, ((i, *row) for i, row in zip(ids, rows, strict=True)))
        if conn.execute("SELECT last_insert_rowid()").fetchone()[0] != last_r:
            raise StoreError("reading ids were not allocated in sequence; nothing written")
        if rollup and last_r is not None:
            _fold_in(conn, reading_hw, last_r, (rc.channels, rc.ts, rc.values, rc.qualities))
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


def chain_head(conn: sqlite3.Connection) -> tuple[int, str]:
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


_ROLLUP_LOG = RateLimiter(60.0)


def _fold_in(conn: sqlite3.Connection, reading_hw: int, last_r: int, columns: Any) -> None:
    """The roll-up is derived data: its failure must never refuse the batch's readings. In a
    savepoint; on any error it is undone alone, the roll-up stays behind (charts of days end
    there until ``coldwatch rollup rebuild`` or the next start completes it) and it is logged."""
    conn.execute("SAVEPOINT rollup")
    try:
        sqlite_rollup.add_batch(conn, reading_hw, last_r, columns)
    except Exception:
        conn.execute("ROLLBACK TO rollup")
        allowed, held = _ROLLUP_LOG.allow("rollup")
        if allowed:
            log.exception(
                "roll-up not updated (the readings are stored; it stays behind until "
                "`coldwatch rollup rebuild` or the next start; %d more not logged)",
                held,
            )
    finally:
        conn.execute("RELEASE rollup")
