"""Walking the hash chain of committed batches, for :meth:`SQLiteStore.verify` and the
retention purge.

The chain starts at its anchor (genesis, or the last retention purge); each batch must follow
on from the one before in seq, prev_hash and row ids, and its hash must be the one rebuilt from
its rows (:mod:`monitor.store.canonical`). A problem found raises :class:`ChainProblem`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Final

from monitor.core.model import EventKind
from monitor.store.canonical import (
    ENCODING_ERRORS,
    GENESIS_HASH,
    HASH_FORMAT,
    batch_hash,
    events_bytes,
    readings_bytes,
    value_tags,
)


class ChainProblem(Exception):
    def __init__(self, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.message = message


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the chain starts: batch 1 from genesis, or after the last retention purge."""

    next_seq: int
    prev_hash: str
    reading_hw: int
    event_hw: int


@dataclass(frozen=True, slots=True)
class Walked:
    seq: int
    readings: int
    events: int
    hash: str
    reading_hw: int
    event_hw: int
    max_ts: int | None


_SELECT_PURGES: Final = (
    "SELECT id, first_seq, last_seq, anchor_hash, reading_id_hw, event_id_hw, event_id, "
    "readings, events FROM purges ORDER BY id"
)
_SELECT_BATCHES: Final = (
    "SELECT seq, format, committed_at, first_reading_id, last_reading_id, readings, "
    "first_event_id, last_event_id, events, prev_hash, hash FROM batches "
    "WHERE seq >= ? ORDER BY seq"
)
_SELECT_READING_ROWS: Final = (
    "SELECT id, channel, ts, value, quality, flags, detail, batch FROM readings "
    "WHERE id BETWEEN ? AND ? ORDER BY id"
)
_SELECT_EVENT_ROWS: Final = (
    "SELECT id, ts, kind, source, message, data, person, batch FROM events "
    "WHERE id BETWEEN ? AND ? ORDER BY id"
)


def find_anchor(conn: sqlite3.Connection) -> tuple[Anchor, list[tuple[Any, ...]]]:
    purges = conn.execute(_SELECT_PURGES).fetchall()
    expected_first = 1
    for pid, first_seq, last_seq, *_ in purges:
        if first_seq != expected_first or last_seq < first_seq:
            raise ChainProblem(
                None,
                f"purge {pid}: batches {first_seq}..{last_seq} do not follow on from the "
                f"previous purge (purge log altered)",
            )
        expected_first = last_seq + 1
    if not purges:
        return Anchor(1, GENESIS_HASH, 0, 0), purges
    _, _, last_seq, anchor_hash, reading_hw, event_hw, *_ = purges[-1]
    return Anchor(last_seq + 1, anchor_hash, reading_hw, event_hw), purges


def _check_range(
    seq: int, what: str, first: int | None, last: int | None, count: int, hw: int
) -> None:
    if count == 0:
        if first is not None or last is not None:
            raise ChainProblem(seq, f"batch {seq}: {what} id range without {what} (batch altered)")
        return
    if first != hw + 1 or last != first + count - 1:
        raise ChainProblem(
            seq,
            f"batch {seq}: {what} ids {first}..{last} do not follow on from {hw} for {count} "
            f"{what} (batch record altered)",
        )


def walk(conn: sqlite3.Connection, anchor: Anchor) -> Generator[Walked, None, None]:
    """Verify batch after batch from the anchor, yielding each good one; raise ChainProblem."""
    expected_seq = anchor.next_seq
    prev_hash = anchor.prev_hash
    reading_hw = anchor.reading_hw
    event_hw = anchor.event_hw
    earlier = conn.execute("SELECT min(seq) FROM batches").fetchone()[0]
    if earlier is not None and earlier < anchor.next_seq:
        raise ChainProblem(
            earlier, f"batch {earlier} precedes the last retention purge (it should be gone)"
        )
    for row in conn.execute(_SELECT_BATCHES, (anchor.next_seq,)):
        (seq, fmt, committed, first_r, last_r, n_r, first_e, last_e, n_e, prev, stored) = row
        if seq != expected_seq:
            raise ChainProblem(expected_seq, f"batch {expected_seq} missing (seq gap)")
        if prev != prev_hash:
            after = "the last retention purge" if seq == anchor.next_seq else f"batch {seq - 1}"
            raise ChainProblem(
                seq, f"batch {seq}: prev_hash does not match the hash of {after} (chain broken)"
            )
        if fmt != HASH_FORMAT:
            raise ChainProblem(seq, f"batch {seq}: unknown hash format {fmt!r}")
        _check_range(seq, "readings", first_r, last_r, n_r, reading_hw)
        _check_range(seq, "events", first_e, last_e, n_e, event_hw)
        reading_rows = (
            conn.execute(_SELECT_READING_ROWS, (first_r, last_r)).fetchall() if n_r else []
        )
        if len(reading_rows) != n_r:
            raise ChainProblem(
                seq,
                f"batch {seq}: {len(reading_rows)} readings found, {n_r} recorded (rows missing)",
            )
        event_rows = conn.execute(_SELECT_EVENT_ROWS, (first_e, last_e)).fetchall() if n_e else []
        if len(event_rows) != n_e:
            raise ChainProblem(
                seq, f"batch {seq}: {len(event_rows)} events found, {n_e} recorded (rows missing)"
            )
        max_ts: int | None = None
        r_bytes = e_bytes = b""
        computed: str | None = None
        try:
            if reading_rows:
                _, channels, ts, values, qualities, flags, details, batch = zip(
                    *reading_rows, strict=True
                )
                if batch.count(seq) != n_r:
                    raise ValueError("a reading's batch number was altered")
                r_bytes = readings_bytes(
                    ts, flags, channels, qualities, details, values, value_tags(values)
                )
                max_ts = max(ts)
            if event_rows:
                _, e_ts, kinds, sources, messages, data, persons, e_batch = zip(
                    *event_rows, strict=True
                )
                if e_batch.count(seq) != n_e:
                    raise ValueError("an event's batch number was altered")
                e_bytes = events_bytes(e_ts, kinds, sources, messages, data, persons)
                max_ts = max(e_ts) if max_ts is None else max(max_ts, max(e_ts))
            header = (
                seq,
                committed,
                n_r,
                first_r or 0,
                last_r or 0,
                n_e,
                first_e or 0,
                last_e or 0,
            )
            computed = batch_hash(prev_hash, header, r_bytes, e_bytes)
        except ENCODING_ERRORS:
            computed = None  # a column holds what append never writes: altered
        if computed != stored:
            raise ChainProblem(
                seq, f"batch {seq}: hash mismatch (a reading or event in it was altered)"
            )
        reading_hw = last_r if n_r else reading_hw
        event_hw = last_e if n_e else event_hw
        yield Walked(seq, n_r, n_e, stored, reading_hw, event_hw, max_ts)
        prev_hash = stored
        expected_seq = seq + 1


def check_coverage(
    conn: sqlite3.Connection, table: str, anchor_hw: int, end_hw: int, next_seq: int
) -> None:
    """Every row must lie in a verified batch's id range: nothing before or after the chain."""
    low, high = conn.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()
    if low is None:
        return
    if low <= anchor_hw:
        raise ChainProblem(
            None,
            f"{table[:-1]} id {low} is older than the chain's start (written outside the chain, "
            f"or left over from a purge)",
        )
    if high > end_hw:
        first = conn.execute(f"SELECT min(id) FROM {table} WHERE id > ?", (end_hw,)).fetchone()[0]
        raise ChainProblem(
            next_seq,
            f"{table} from id {first} are not covered by any batch (batch {next_seq} missing, "
            f"or rows written outside the chain)",
        )


def check_purge_event(conn: sqlite3.Connection, purge: tuple[Any, ...]) -> None:
    pid, first_seq, last_seq, anchor_hash, reading_hw, event_hw, event_id, n_r, n_e = purge
    row = conn.execute("SELECT kind, data FROM events WHERE id = ?", (event_id,)).fetchone()
    expected = {
        "purge_id": pid,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "anchor_hash": anchor_hash,
        "reading_id_hw": reading_hw,
        "event_id_hw": event_hw,
        "readings": n_r,
        "events": n_e,
    }
    try:
        data = json.loads(row[1]) if row is not None else None
    except ValueError:
        data = None
    if (
        row is None
        or row[0] != EventKind.RETENTION_PURGE
        or not isinstance(data, dict)
        or any(data.get(k) != v for k, v in expected.items())
    ):
        raise ChainProblem(
            None, f"purge {pid} does not match its retention_purge event {event_id} (altered)"
        )


def check_configs(conn: sqlite3.Connection) -> None:
    for cid, sha, effective in conn.execute(
        "SELECT id, sha256, effective FROM config_versions ORDER BY id"
    ):
        content = effective.encode("utf-8") if isinstance(effective, str) else None
        if content is None or hashlib.sha256(content).hexdigest() != sha:
            raise ChainProblem(
                None, f"config version {cid}: sha256 does not match its content (altered)"
            )
