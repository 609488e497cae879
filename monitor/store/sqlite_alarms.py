"""The alarm history in SQLite: append with its hash chain, queries, and chain verification.

The chain (format described in ``migrations/0002_alarms.sql``) is separate from the batch
chain of readings and events: alarm rows are written by the alarm engine one transition at a
time, not in the store writer's batches. Each row's hash covers the previous row's hash and
every column as stored, so an edited, removed or re-ordered row breaks it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from monitor.store.base import AlarmRecord
from monitor.store.canonical import GENESIS_HASH, canonical_json, from_us, to_us
from monitor.store.chain import ChainProblem

_PREFIX: Final = b"coldwatch-alarm-v1\n"
_COLUMNS: Final = (
    "seq, recorded_at, at, key, code, action, state, previous, announce, late, person, via, "
    "comment, data"
)
_INSERT: Final = (
    f"INSERT INTO alarm_history ({_COLUMNS}, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_TIMERS: Final = (
    "INSERT INTO alarm_timers (key, updated_at, data) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data"
)


def row_hash(prev_hash: str, row: Sequence[Any]) -> str:
    """The hash of one row (its 14 columns as stored) after ``prev_hash``."""
    digest = hashlib.sha256(_PREFIX)
    digest.update(prev_hash.encode("ascii"))
    digest.update(json.dumps(list(row), separators=(",", ":"), ensure_ascii=False).encode())
    return digest.hexdigest()


def append(
    conn: sqlite3.Connection,
    records: Sequence[AlarmRecord],
    timers: Mapping[str, Mapping[str, Any] | None],
    now_us: int,
) -> list[AlarmRecord]:
    """Inside the caller's transaction."""
    head = conn.execute("SELECT seq, hash FROM alarm_history ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS_HASH)
    out = []
    for record in records:
        seq += 1
        row = (
            seq,
            to_us(record.recorded_at),
            to_us(record.at),
            record.key,
            record.code,
            record.action,
            record.state,
            record.previous,
            record.announce,
            1 if record.late else 0,
            record.person,
            record.via,
            record.comment,
            canonical_json(record.data),
        )
        digest = row_hash(prev, row)
        conn.execute(_INSERT, (*row, prev, digest))
        prev = digest
        out.append(replace(record, seq=seq))
    for key, data in timers.items():
        if data is None:
            conn.execute("DELETE FROM alarm_timers WHERE key = ?", (key,))
        else:
            conn.execute(_UPSERT_TIMERS, (key, now_us, canonical_json(data)))
    return out


def record_of(row: Sequence[Any]) -> AlarmRecord:
    (seq, recorded, at, key, code, action, state, previous, announce, late) = row[:10]
    person, via, comment, data = row[10:14]
    return AlarmRecord(
        recorded_at=from_us(recorded),
        at=from_us(at),
        key=key,
        action=action,
        state=state,
        code=code,
        previous=previous,
        announce=announce,
        late=bool(late),
        person=person,
        via=via,
        comment=comment,
        data=json.loads(data),
        seq=seq,
    )


def select(
    *,
    after_seq: int,
    key: str | None,
    code: str | None,
    since: datetime | None,
    limit: int | None,
    newest_first: bool,
) -> tuple[str, list[Any]]:
    clauses = ["seq > ?"]
    params: list[Any] = [after_seq]
    if key is not None:
        clauses.append("key = ?")
        params.append(key)
    if code is not None:
        clauses.append("code = ?")
        params.append(code)
    if since is not None:
        clauses.append("recorded_at >= ?")
        params.append(to_us(since))
    sql = f"SELECT {_COLUMNS} FROM alarm_history WHERE {' AND '.join(clauses)}"
    sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


LATEST: Final = (
    f"SELECT {_COLUMNS} FROM alarm_history "
    "WHERE seq IN (SELECT max(seq) FROM alarm_history GROUP BY key) ORDER BY seq"
)
TIMERS: Final = "SELECT key, data FROM alarm_timers"


def check_chain(conn: sqlite3.Connection) -> int:
    """Recompute the alarm history's chain; return its length or raise ChainProblem."""
    prev = GENESIS_HASH
    expected = 1
    for row in conn.execute(f"SELECT {_COLUMNS}, prev_hash, hash FROM alarm_history ORDER BY seq"):
        seq = row[0]
        if seq != expected:
            raise ChainProblem(None, f"alarm history row {expected} missing (seq gap)")
        if row[14] != prev:
            raise ChainProblem(
                None, f"alarm history row {seq}: prev_hash does not match row {seq - 1}"
            )
        try:
            computed: str | None = row_hash(prev, row[:14])
        except (TypeError, ValueError, UnicodeError):
            computed = None
        if computed != row[15]:
            raise ChainProblem(None, f"alarm history row {seq}: hash mismatch (row altered)")
        prev = row[15]
        expected += 1
    return expected - 1
