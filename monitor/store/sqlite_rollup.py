"""The per-minute roll-up of readings: derived data beside the record, never part of it.

``rollup_minutes`` (``migrations/0007_rollup.sql``) holds, per channel and UTC minute, the
count, min, max and sum of the good numeric readings and the count of the others. Charts of
days read it instead of millions of raw rows.

Why in the batch's own transaction
    :func:`add_batch` folds each batch into the roll-up inside the transaction that appends
    the batch, from the batch's columns in memory: the roll-up can never be ahead of or
    behind the readings a reader sees, and there is no second writer to run or lose. It
    costs one upsert per channel-minute of the batch (``bench/bench_store.py``).

Behind, and rebuilt
    ``rollup_state.through_reading_id`` is the highest reading id the roll-up includes. A store
    migrated to this schema, one written with the roll-up off (a bulk import), or an
    interrupted rebuild is behind: :func:`catch_up` (run when the store opens) folds the rest
    in, in chunks of ids, each its own transaction. :func:`reset` empties it for a rebuild.

Checked, not repaired, by verify
    :func:`check` recomputes every minute from the readings and names the first that differs:
    derived-data drift, reported apart from the chain (the records are intact; ``coldwatch
    rollup rebuild`` re-derives it). Verify only reads: it runs as a reader of the file.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor.store.base import StoreError
from monitor.store.canonical import from_us

MINUTE_US: Final = 60_000_000
CATCH_UP_CHUNK: Final = 200_000  # reading ids per transaction when catching up

# the start of a reading's UTC minute (floor, also before 1970)
_MINUTE_OF_TS: Final = f"ts - (((ts % {MINUTE_US}) + {MINUTE_US}) % {MINUTE_US})"
# a reading's value when it counts (good and a number), else NULL
_GOOD_VALUE: Final = (
    "CASE WHEN quality = 'good' AND typeof(value) IN ('integer', 'real') THEN value END"
)
# per (channel, minute) of the readings ``WHERE {where}``: n, min, max, sum, bad
_AGGREGATE: Final = (
    "SELECT channel, m, count(v), min(v), max(v), CASE WHEN count(v) THEN total(v) END, "
    "count(*) - count(v) FROM (SELECT channel, {minute} AS m, {good} AS v FROM readings "
    "WHERE {where}) WHERE true GROUP BY channel, m"
)
_UPSERT: Final = (
    "INSERT INTO rollup_minutes (channel, minute, n, min, max, sum, bad) {select} "
    "ON CONFLICT (channel, minute) DO UPDATE SET "
    "n = n + excluded.n, "
    "min = coalesce(min(min, excluded.min), min, excluded.min), "
    "max = coalesce(max(max, excluded.max), max, excluded.max), "
    "sum = coalesce(sum + excluded.sum, sum, excluded.sum), "
    "bad = bad + excluded.bad"
)
_ADD_RANGE: Final = _UPSERT.format(
    select=_AGGREGATE.format(minute=_MINUTE_OF_TS, good=_GOOD_VALUE, where="id > ? AND id <= ?")
)
_UPSERT_VALUES: Final = _UPSERT.format(select="VALUES (?, ?, ?, ?, ?, ?, ?)")
_SET_THROUGH: Final = "UPDATE rollup_state SET through_reading_id = ? WHERE id = 1"
_THROUGH: Final = "SELECT through_reading_id FROM rollup_state WHERE id = 1"
_MAX_READING_ID: Final = "SELECT coalesce(max(id), 0) FROM readings"


@dataclass(frozen=True, slots=True)
class RollupBucket:
    """One bucket of a channel's roll-up: ``start`` (µs, UTC), the good readings' count, min,
    max and mean (None when there was none), and how many readings could not be drawn."""

    start: int
    n: int
    min: float | None
    max: float | None
    mean: float | None
    bad: int


@dataclass(frozen=True, slots=True)
class RollupCheck:
    minutes: int
    drift: str | None = None
    """None: the roll-up equals the readings; else what differs (derived-data drift)."""


STATE_MISSING: Final = (
    "the roll-up's state row is missing (rollup_state): run `coldwatch rollup rebuild`"
)


def through(conn: sqlite3.Connection) -> int:
    row = conn.execute(_THROUGH).fetchone()
    if row is None:
        raise StoreError(STATE_MISSING)
    return int(row[0])


def behind(conn: sqlite3.Connection) -> bool:
    """Whether some reading is not in the roll-up yet (a read: no write lock taken)."""
    return through(conn) < int(conn.execute(_MAX_READING_ID).fetchone()[0])


def add_batch(
    conn: sqlite3.Connection,
    reading_hw: int,
    last_id: int,
    columns: tuple[Sequence[str], Sequence[int], Sequence[Any], Sequence[str]],
) -> None:
    """Fold the batch's readings (ids ``reading_hw + 1 .. last_id``; ``columns``: their
    channels, times, values and qualities as bound) in, inside the batch's transaction, when
    the roll-up is up to date; when it is behind, :func:`catch_up_step` will. Aggregated here
    from the columns in memory: cheaper than reading the rows back; the same rules as
    :data:`_AGGREGATE` (the property test holds both to the readings)."""
    if through(conn) < reading_hw:
        return
    groups: dict[tuple[str, int], list[Any]] = {}
    for channel, ts, value, quality in zip(*columns, strict=True):
        key = (channel, ts - ts % MINUTE_US)
        group = groups.get(key)
        if group is None:
            group = groups[key] = [0, None, None, None, 0]
        if quality == "good" and _is_number(value):
            number = float(value)
            if group[0] == 0:
                group[1] = group[2] = group[3] = number
            else:
                group[1] = min(group[1], number)
                group[2] = max(group[2], number)
                group[3] += number
            group[0] += 1
        else:
            group[4] += 1
    conn.executemany(_UPSERT_VALUES, ((*key, *group) for key, group in groups.items()))
    conn.execute(_SET_THROUGH, (last_id,))


def _is_number(value: Any) -> bool:
    """What SQLite stores as an integer or a real (NaN becomes NULL there)."""
    return isinstance(value, int) or (isinstance(value, float) and not math.isnan(value))


def catch_up_step(conn: sqlite3.Connection, chunk: int = CATCH_UP_CHUNK) -> bool:
    """Fold in the next ``chunk`` reading ids after the roll-up's mark, inside the caller's
    transaction; False when there was nothing left to do."""
    done, newest = through(conn), int(conn.execute(_MAX_READING_ID).fetchone()[0])
    if done >= newest:
        return False
    upto = min(newest, done + chunk)
    conn.execute(_ADD_RANGE, (done, upto))
    conn.execute(_SET_THROUGH, (upto,))
    return True


def reset(conn: sqlite3.Connection) -> None:
    """Empty the roll-up (a rebuild follows with :func:`catch_up_step`)."""
    conn.execute("DELETE FROM rollup_minutes")
    conn.execute("INSERT OR REPLACE INTO rollup_state (id, through_reading_id) VALUES (1, 0)")


# --- the retention purge ---------------------------------------------------------------------

_REDO_TABLE: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS rollup_redo "
    "(channel TEXT NOT NULL, minute INTEGER NOT NULL, PRIMARY KEY (channel, minute)) WITHOUT ROWID"
)


def before_purge(conn: sqlite3.Connection, last_id: int) -> None:
    """Note the minutes the readings ``id <= last_id`` (about to be purged) fall in."""
    conn.execute(_REDO_TABLE)
    conn.execute("DELETE FROM temp.rollup_redo")
    conn.execute(
        f"INSERT OR IGNORE INTO temp.rollup_redo SELECT DISTINCT channel, {_MINUTE_OF_TS} "
        "FROM readings WHERE id <= ?",
        (last_id,),
    )


def after_purge(conn: sqlite3.Connection) -> None:
    """Re-derive the minutes noted by :func:`before_purge` from the readings left (only those
    the roll-up already included)."""
    conn.execute(
        "DELETE FROM rollup_minutes WHERE (channel, minute) IN "
        "(SELECT channel, minute FROM temp.rollup_redo)"
    )
    where = (
        f"id <= ({_THROUGH}) AND (channel, {_MINUTE_OF_TS}) IN "
        "(SELECT channel, minute FROM temp.rollup_redo)"
    )
    select = _AGGREGATE.format(minute=_MINUTE_OF_TS, good=_GOOD_VALUE, where=where)
    conn.execute(_UPSERT.format(select=select))
    conn.execute("DELETE FROM temp.rollup_redo")


# --- reading it ------------------------------------------------------------------------------


def buckets(
    conn: sqlite3.Connection, channel: str, start_us: int, end_us: int, bucket_minutes: int
) -> list[RollupBucket]:
    """The roll-up of ``channel`` over the minutes ``start_us <= minute < end_us``, merged into
    buckets of ``bucket_minutes`` (aligned on the epoch); buckets without rows are left out."""
    size = bucket_minutes * MINUTE_US
    rows = conn.execute(
        f"SELECT minute - (((minute % {size}) + {size}) % {size}) AS b, sum(n), min(min), "
        "max(max), total(sum), sum(bad) FROM rollup_minutes "
        "WHERE channel = ? AND minute >= ? AND minute < ? GROUP BY b ORDER BY b",
        (channel, start_us, end_us),
    ).fetchall()
    return [
        RollupBucket(b, n, lo, hi, total / n if n else None, bad)
        for b, n, lo, hi, total, bad in rows
    ]


# --- checking it against the readings --------------------------------------------------------

_RECOMPUTED: Final = (
    _AGGREGATE.format(minute=_MINUTE_OF_TS, good=_GOOD_VALUE, where="true") + " ORDER BY channel, m"
)
_STORED: Final = (
    "SELECT channel, minute, n, min, max, sum, bad FROM rollup_minutes ORDER BY channel, minute"
)


def check(conn: sqlite3.Connection) -> RollupCheck:
    """Compare every minute of the roll-up with the readings (inside the caller's read
    transaction). Sums may differ in their last bits (added in another order)."""
    stored = conn.execute("SELECT count(*) FROM rollup_minutes").fetchone()[0]
    try:
        done = through(conn)
    except StoreError:
        return RollupCheck(stored, STATE_MISSING)
    newest = int(conn.execute(_MAX_READING_ID).fetchone()[0])
    if done < newest:
        return RollupCheck(
            stored,
            f"roll-up is behind: it includes readings up to id {done} of {newest} "
            "(opening the store for writing, or `coldwatch rollup rebuild`, completes it)",
        )
    expected = conn.cursor().execute(_RECOMPUTED)
    found = conn.cursor().execute(_STORED)
    first: str | None = None
    differing = 0
    for want, have in _pairs(expected, found):
        if want is not None and have is not None and _same(want, have):
            continue
        differing += 1
        if first is None:
            first = _describe(want, have)
    if first is None:
        return RollupCheck(stored)
    return RollupCheck(stored, f"roll-up drift in {differing} minute(s); first: {first}")


Row = tuple[Any, ...]


def _pairs(
    expected: Iterator[Row], found: Iterator[Row]
) -> Iterator[tuple[Row | None, Row | None]]:
    """Both ordered by (channel, minute): matched rows together, an unmatched one alone."""
    want, have = next(expected, None), next(found, None)
    while want is not None or have is not None:
        if have is None or (want is not None and tuple(want[:2]) < tuple(have[:2])):
            yield want, None
            want = next(expected, None)
        elif want is None or tuple(have[:2]) < tuple(want[:2]):
            yield None, have
            have = next(found, None)
        else:
            yield want, have
            want, have = next(expected, None), next(found, None)


def _same(want: Row, have: Row) -> bool:
    _, _, n, lo, hi, total, bad = want
    _, _, s_n, s_lo, s_hi, s_total, s_bad = have
    if (n, bad) != (s_n, s_bad) or not _close(lo, s_lo, 0.0) or not _close(hi, s_hi, 0.0):
        return False
    scale = max(abs(lo or 0.0), abs(hi or 0.0), 1.0) * max(n, 1)
    return _close(total, s_total, scale * 1e-12)


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return float(a) == float(b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=tolerance)


def _describe(want: Row | None, have: Row | None) -> str:
    row = want if want is not None else have
    assert row is not None
    where = f"{row[0]} at {from_us(row[1]).isoformat()}"
    if have is None:
        return f"{where}: missing from the roll-up"
    if want is None:
        return f"{where}: in the roll-up but no reading in that minute"
    names = ("n", "min", "max", "sum", "bad")
    return f"{where}: roll-up " + ", ".join(
        f"{k}={h!r} (readings: {w!r})"
        for k, w, h in zip(names, want[2:], have[2:], strict=True)
        if w != h
    )
