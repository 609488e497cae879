"""The retention purge: removing the oldest batches of readings and events, on the record.

Only whole batches older than the cutoff go, and only when the chain up to them verifies. The
removal is let through the append-only triggers by ``purge_guard``; a ``purges`` row keeps what
was removed (batches, row counts, the highest ids) and the hash of the last batch removed, the
anchor the chain now starts from, and a ``retention_purge`` event appended in the same
transaction says who ordered it and why (:meth:`SQLiteStore.purge_before
<monitor.store.sqlite.SQLiteStore.purge_before>`). :func:`purge_log` reads the ``purges`` rows
back.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from monitor.core.model import Event, EventKind
from monitor.store import sqlite_rollup
from monitor.store.base import StoreError
from monitor.store.canonical import EventColumns, from_us, to_us
from monitor.store.chain import ChainProblem, Walked, find_anchor, walk
from monitor.store.sqlite_batches import append_batch, next_ids

# the purge's warning keeps the store's logger name, as before it had a module of its own
log = logging.getLogger("monitor.store.sqlite")


def purge(
    conn: sqlite3.Connection,
    now: Callable[[], datetime],
    before: datetime,
    cutoff: int,
    person: str,
    reason: str,
) -> int:
    """Remove the batches whose records are all older than ``cutoff`` (``before`` in UTC
    microseconds) inside the caller's write transaction; return how many readings went."""
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
    _, event_hw, _ = next_ids(conn)
    sqlite_rollup.before_purge(conn, last.reading_hw)
    conn.execute("UPDATE purge_guard SET active = 1 WHERE id = 1")
    deleted_r = conn.execute("DELETE FROM readings WHERE id <= ?", (last.reading_hw,)).rowcount
    deleted_e = conn.execute("DELETE FROM events WHERE id <= ?", (last.event_hw,)).rowcount
    conn.execute("DELETE FROM batches WHERE seq <= ?", (last.seq,))
    conn.execute("UPDATE purge_guard SET active = 0 WHERE id = 1")
    sqlite_rollup.after_purge(conn)  # derived data: the minutes purged from are re-derived
    if (deleted_r, deleted_e) != (n_r, n_e):
        raise StoreError(
            f"retention purge found {deleted_r} readings and {deleted_e} events to remove, "
            f"expected {n_r} and {n_e}; nothing was removed"
        )
    purged_at = now()
    cursor = conn.execute(
        "INSERT INTO purges (purged_at, before_ts, person, reason, first_seq, last_seq, "
        "anchor_hash, readings, events, reading_id_hw, event_id_hw, event_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            to_us(purged_at),
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
    event = Event(purged_at, EventKind.RETENTION_PURGE, "store", message, data, person)
    append_batch(conn, now, None, EventColumns.of([event]))
    log.warning("%s (by %s)", message, person)
    return n_r


#: The retention purge log, oldest first: the rows :func:`purge_log` reads.
PURGE_LOG: Final = (
    "SELECT id, purged_at, before_ts, person, reason, first_seq, last_seq, anchor_hash, "
    "readings, events FROM purges ORDER BY id"
)


def purge_log(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """The rows of :data:`PURGE_LOG` as :meth:`SQLiteStore.purges
    <monitor.store.sqlite.SQLiteStore.purges>` gives them, their times as datetimes."""
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
