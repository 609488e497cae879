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

Schema migrations
    ``monitor/store/migrations/NNNN_name.sql``, applied in order on :meth:`SQLiteStore.open`, each
    in one transaction with its ``schema_migrations`` row (version, name, applied_at, SHA-256 of
    the script). A store whose schema is newer than this code is refused.

The hash chain (canonical serialization, format 1)
    ``hash = SHA-256(b"coldwatch-batch-v1\\n" || prev_hash || header || R || E)`` in lower-case
    hex. ``prev_hash`` is the previous batch's hash as 64 ASCII hex digits (64 zeros before
    batch 1; after a retention purge, the purge's anchor). Integers are little-endian signed
    64-bit (``i64``), reals little-endian IEEE-754 doubles (``f64``).

    * ``header`` = 8 i64: seq, committed_at (µs), readings count, first reading id, last reading
      id, events count, first event id, last event id (0 for the ids of an empty part).
    * ``R`` (empty without readings) = i64[ts µs] || i64[flags] || text(channel) ||
      text(quality) || opttext(detail) || val(value), each over the batch's readings in id order.
    * ``E`` (empty without events) = i64[ts µs] || text(kind) || text(source) || text(message) ||
      text(data) || opttext(person), over its events in id order; ``data`` is the stored JSON.
    * ``text(xs)`` = 0x00 || UTF-8 of the values each followed by a NUL, when none contains a
      NUL; otherwise 0x01 || i64[length of each in code points] || i64[byte length] || UTF-8 of
      their concatenation.
    * ``opttext(xs)`` = one byte per value (1 NULL, 0 not) || text(the non-NULL values).
    * ``val(xs)`` = one tag byte per value (``n`` NULL, ``f`` REAL, ``i`` INTEGER, ``s`` TEXT)
      || f64[the REALs] || i64[the INTEGERs] || text(the TEXTs).

    Row ids and batch numbers are not repeated per row: the k-th reading of a batch must have
    id ``first + k`` and ``batch = seq``, which :meth:`SQLiteStore.verify` checks, and the header
    (hashed) carries ``first``; so a swapped, moved or renumbered row is detected. Everything
    hashed is a stored column value, so verify rebuilds the same bytes from the rows.

    The form is columnar because building it takes a few C-level passes per batch (``join``,
    ``struct.pack``, ``bytes.translate``) rather than Python work per row: that keeps
    ``append`` close to a bare ``executemany`` (``bench/bench_store.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import struct
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from itertools import compress, repeat
from operator import attrgetter, is_
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, cast

from monitor.model import Event, EventKind, Quality, Reading, utc_now
from monitor.store.base import BatchInfo, ConfigVersion, Store, StoreError, VerifyResult

log = logging.getLogger(__name__)

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND: Final = timedelta(microseconds=1)
GENESIS_HASH: Final = "0" * 64
HASH_FORMAT: Final = 1
APPLICATION_ID: Final = 0x636F6C64  # "cold", in the SQLite header: marks the file as ours
APPEND_ONLY_MESSAGE: Final = "coldwatch: records are append-only"
DEFAULT_BUSY_TIMEOUT: Final = 10.0  # seconds

_HASH_PREFIX: Final = b"coldwatch-batch-v1\n"
_HEADER: Final = struct.Struct("<8q")

_QUALITY_TEXT: Final[dict[Quality, str]] = {q: q.value for q in Quality}
_QUALITY_OF: Final[dict[str, Quality]] = {q.value: q for q in Quality}

_NUL: Final = "\x00"
_TEXT_JOINED: Final = b"\x00"  # text(): each value followed by a NUL
_TEXT_LENGTHS: Final = b"\x01"  # text(): lengths, then the concatenation

_TAG_NULL, _TAG_REAL, _TAG_INTEGER, _TAG_TEXT = b"n", b"f", b"i", b"s"
_VALUE_TAGS: Final[dict[type, int]] = {
    type(None): _TAG_NULL[0],
    float: _TAG_REAL[0],
    int: _TAG_INTEGER[0],
    str: _TAG_TEXT[0],
}
_ONLY_REAL: Final = frozenset({float})
_REAL_OR_NULL: Final = frozenset({float, type(None)})


def _translation(mapping: dict[int, int]) -> bytes:
    """A ``bytes.translate`` table: the given bytes mapped, every other byte to 0."""
    table = bytearray(256)
    for source, target in mapping.items():
        table[source] = target
    return bytes(table)


_SELECT_REAL: Final = _translation({_TAG_REAL[0]: 1})
_SELECT_INTEGER: Final = _translation({_TAG_INTEGER[0]: 1})
_SELECT_TEXT: Final = _translation({_TAG_TEXT[0]: 1})
_NULL_MASK_TO_TAGS: Final = _translation({0: _TAG_REAL[0], 1: _TAG_NULL[0]})
_NOT: Final = _translation({0: 1})


# --- connection settings ---------------------------------------------------------------------


def apply_pragmas(
    conn: sqlite3.Connection,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> None:
    """The settings of every store connection (``bench/bench_store.py`` uses them too)."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"cannot put the store in WAL mode (journal_mode is {mode!r})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA cache_size = -16384")  # 16 MiB: keeps the (channel, ts) index hot
    conn.execute("PRAGMA foreign_keys = OFF")


def connect(
    path: str | Path,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the store's PRAGMAs."""
    conn = sqlite3.connect(
        str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    try:
        apply_pragmas(conn, synchronous, busy_timeout)
    except BaseException:
        conn.close()
        raise
    return conn


# --- migrations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    sha256: str


_CREATE_MIGRATIONS_TABLE: Final = """
CREATE TABLE schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)"""


@cache
def migrations() -> tuple[Migration, ...]:
    """The migration scripts shipped with this code, in version order (1, 2, ... no gaps)."""
    folder = resources.files("monitor.store").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        prefix = name.split("_", 1)[0]
        if not prefix.isdigit():
            raise StoreError(f"migration {name}: the name must start with its version (0001_)")
        raw = entry.read_bytes()
        found.append(
            Migration(int(prefix), name, raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())
        )
    found.sort(key=attrgetter("version"))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations must be numbered 1, 2, 3... without gaps: {versions}")
    return tuple(found)


def split_statements(script: str) -> list[str]:
    """The statements of a migration script, each complete (triggers keep their inner ';')."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines(keepends=True):
        buffer.append(line)
        text = "".join(buffer)
        if sqlite3.complete_statement(text):
            statements.append(text.strip())
            buffer = []
    rest = [ln for ln in buffer if ln.strip() and not ln.strip().startswith("--")]
    if rest:
        raise StoreError(f"migration script ends in an incomplete statement: {''.join(rest)!r}")
    return statements


def _applied_migrations(conn: sqlite3.Connection, newest: int) -> dict[int, str] | None:
    """version -> script SHA-256 of what the store has applied; None for a new, empty file.
    Refuses a file that is not a coldwatch store, or whose schema is newer than this code."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(f"not a coldwatch store (SQLite application_id {app_id:#x})")
    has_log = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if not has_log:
        others = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if others:
            raise StoreError("not a coldwatch store (it has tables but no schema_migrations)")
        return None
    applied: dict[int, str] = dict(
        conn.execute("SELECT version, sha256 FROM schema_migrations").fetchall()
    )
    if applied and max(applied) > newest:
        raise StoreError(
            f"the store's schema is version {max(applied)}, newer than this coldwatch knows "
            f"(up to {newest}); upgrade coldwatch before opening it"
        )
    return applied


def _warn_if_edited(known: Sequence[Migration], applied: dict[int, str]) -> None:
    for migration in known:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.sha256:
            log.warning(
                "migration %s was applied from a script with SHA-256 %s; the shipped script's "
                "is %s (released migrations must not be edited)",
                migration.name,
                recorded,
                migration.sha256,
            )


def migrate(conn: sqlite3.Connection, now_us: int) -> int:
    """Bring the schema up to date; return its version. Refuse stores newer than this code.

    An up-to-date store is only read (no write lock: ``coldwatch verify`` beside a running
    daemon, or a read-only copy, opens at once); otherwise the missing migrations are applied
    in order, each with its ``schema_migrations`` row, all in one transaction."""
    known = migrations()
    newest = known[-1].version
    applied = _applied_migrations(conn, newest)
    if applied is not None and all(m.version in applied for m in known):
        _warn_if_edited(known, applied)
        return newest
    conn.execute("BEGIN IMMEDIATE")
    try:
        applied = _applied_migrations(conn, newest)  # again: another process may have migrated
        if applied is None:
            conn.execute(_CREATE_MIGRATIONS_TABLE)
            applied = {}
        _warn_if_edited(known, applied)
        for migration in known:
            if migration.version in applied:
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at, sha256) "
                "VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, now_us, migration.sha256),
            )
            log.info("store schema migrated to version %d (%s)", migration.version, migration.name)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {newest}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return newest


# --- conversions -----------------------------------------------------------------------------


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime; exact."""
    try:
        return (ts - EPOCH) // ONE_MICROSECOND
    except TypeError:
        raise ValueError(f"not a timezone-aware datetime: {ts!r}") from None


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _i64(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def _f64(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _text(values: Sequence[str]) -> bytes:
    joined = _NUL.join(values)
    if values and joined.count(_NUL) == len(values) - 1:
        return _TEXT_JOINED + joined.encode("utf-8") + b"\x00"
    whole = "".join(values).encode("utf-8")
    lengths = [len(v) for v in values]
    return _TEXT_LENGTHS + _i64(lengths) + _i64((len(whole),)) + whole


_NO_TEXT: Final = _text(())
_NO_INTEGERS_NO_TEXT: Final = _i64(()) + _NO_TEXT


def _optional_text(values: Sequence[str | None]) -> bytes:
    count = len(values)
    nulls = values.count(None)
    if nulls == count:
        return b"\x01" * count + _NO_TEXT
    if nulls == 0:
        return bytes(count) + _text(cast("Sequence[str]", values))
    mask = bytes(map(is_, values, repeat(None)))
    return mask + _text(list(compress(values, mask.translate(_NOT))))  # type: ignore[arg-type]


def _value_tags(values: Sequence[Any]) -> bytes:
    """One tag byte per value; KeyError for a type that SQLite would not give back as is."""
    kinds = set(map(type, values))
    if kinds == _ONLY_REAL:
        return _TAG_REAL * len(values)
    if kinds == _REAL_OR_NULL:
        return bytes(map(is_, values, repeat(None))).translate(_NULL_MASK_TO_TAGS)
    return bytes(map(_VALUE_TAGS.__getitem__, map(type, values)))


def _values(values: Sequence[Any], tags: bytes) -> bytes:
    count = len(values)
    reals_count = tags.count(_TAG_REAL)
    if reals_count == count:
        reals: Sequence[float] = values
        rest = _NO_INTEGERS_NO_TEXT
    elif reals_count + tags.count(_TAG_NULL) == count:
        reals = [v for v in values if v is not None]
        rest = _NO_INTEGERS_NO_TEXT
    else:
        reals = list(compress(values, tags.translate(_SELECT_REAL)))
        integers = list(compress(values, tags.translate(_SELECT_INTEGER)))
        texts = list(compress(values, tags.translate(_SELECT_TEXT)))
        rest = _i64(integers) + _text(texts)
    total = sum(reals)
    if total != total and any(v != v for v in reals):  # NaN (or inf - inf: then look closer)
        raise ValueError("a reading value is NaN, which SQLite cannot store (use a bad quality)")
    return tags + _f64(reals) + rest


def _normalized_value(value: Any) -> float | int | str | None:
    """What SQLite gives back for a value of an unusual type (bool, a float or str subclass)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    raise ValueError(f"reading value {value!r}: a number or a string was expected")


def _readings_bytes(
    ts: Sequence[int],
    flags: Sequence[int],
    channels: Sequence[str],
    qualities: Sequence[str],
    details: Sequence[str | None],
    values: Sequence[Any],
    tags: bytes,
) -> bytes:
    """``R`` of the canonical serialization (see the module docstring)."""
    count = len(ts)
    return b"".join(
        (
            _i64(ts),
            bytes(8 * count) if flags.count(0) == count else _i64(flags),
            _text(channels),
            _text(qualities),
            _optional_text(details),
            _values(values, tags),
        )
    )


def _events_bytes(
    ts: Sequence[int],
    kinds: Sequence[str],
    sources: Sequence[str],
    messages: Sequence[str],
    data: Sequence[str],
    persons: Sequence[str | None],
) -> bytes:
    """``E`` of the canonical serialization (see the module docstring)."""
    return b"".join(
        (
            _i64(ts),
            _text(kinds),
            _text(sources),
            _text(messages),
            _text(data),
            _optional_text(persons),
        )
    )


def _batch_hash(prev_hash: str, header: tuple[int, ...], readings: bytes, events: bytes) -> str:
    digest = hashlib.sha256(_HASH_PREFIX)
    digest.update(prev_hash.encode("ascii"))
    digest.update(_HEADER.pack(*header))
    digest.update(readings)
    digest.update(events)
    return digest.hexdigest()


def canonical_json(data: Any) -> str:
    """Event data as stored: sorted keys, no spaces, UTF-8; non-JSON values as their str()."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_ENCODING_ERRORS: Final = (TypeError, ValueError, KeyError, OverflowError, struct.error)


@dataclass(slots=True)
class _ReadingColumns:
    """A batch of readings as the columns that are bound, and their canonical bytes."""

    ts: list[int]
    channels: list[str]
    values: list[Any]
    qualities: list[str]
    flags: list[int]
    details: list[str | None]
    hashed: bytes

    @staticmethod
    def of(readings: Sequence[Reading]) -> _ReadingColumns:
        try:
            ts = [(r.ts - EPOCH) // ONE_MICROSECOND for r in readings]
        except TypeError:
            bad = next((r.channel for r in readings if not _is_aware(r.ts)), "?")
            raise ValueError(f"reading of {bad}: ts must be a timezone-aware datetime") from None
        channels = [r.channel for r in readings]
        values = [r.value for r in readings]
        try:
            qualities = [_QUALITY_TEXT[r.quality] for r in readings]
        except KeyError as exc:
            raise ValueError(f"not a Quality: {exc.args[0]!r}") from None
        flags = [r.flags for r in readings]
        details = [r.detail for r in readings]
        try:
            tags = _value_tags(values)
        except KeyError:
            values = [_normalized_value(v) for v in values]
            tags = _value_tags(values)
        try:
            hashed = _readings_bytes(ts, flags, channels, qualities, details, values, tags)
        except _ENCODING_ERRORS as exc:
            raise ValueError(f"a reading cannot be stored as it is: {exc}") from None
        return _ReadingColumns(ts, channels, values, qualities, flags, details, hashed)


def _is_aware(ts: Any) -> bool:
    return isinstance(ts, datetime) and ts.utcoffset() is not None


@dataclass(slots=True)
class _EventColumns:
    ts: list[int]
    kinds: list[str]
    sources: list[str]
    messages: list[str]
    data: list[str]
    persons: list[str | None]
    hashed: bytes = b""

    @staticmethod
    def of(events: Sequence[Event]) -> _EventColumns:
        columns = _EventColumns([], [], [], [], [], [])
        for event in events:
            if not _is_aware(event.ts):
                raise ValueError(f"event {event.kind}: ts must be a timezone-aware datetime")
            columns.ts.append(to_us(event.ts))
            columns.kinds.append(str(event.kind))
            columns.sources.append(str(event.source))
            columns.messages.append(str(event.message))
            try:
                columns.data.append(canonical_json(event.data))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"event {event.kind}: data is not JSON: {exc}") from None
            columns.persons.append(None if event.person is None else str(event.person))
        try:
            columns.hashed = _events_bytes(
                columns.ts,
                columns.kinds,
                columns.sources,
                columns.messages,
                columns.data,
                columns.persons,
            )
        except _ENCODING_ERRORS as exc:
            raise ValueError(f"an event cannot be stored as it is: {exc}") from None
        return columns


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # the failed statement may have rolled back already
            log.debug("rollback failed", exc_info=True)


# --- chain walking (verify and purge) -------------------------------------------------------


class _ChainProblem(Exception):
    def __init__(self, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.message = message


@dataclass(frozen=True, slots=True)
class _Anchor:
    """Where the chain starts: batch 1 from genesis, or after the last retention purge."""

    next_seq: int
    prev_hash: str
    reading_hw: int
    event_hw: int


@dataclass(frozen=True, slots=True)
class _Walked:
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


def _anchor(conn: sqlite3.Connection) -> tuple[_Anchor, list[tuple[Any, ...]]]:
    purges = conn.execute(_SELECT_PURGES).fetchall()
    expected_first = 1
    for pid, first_seq, last_seq, *_ in purges:
        if first_seq != expected_first or last_seq < first_seq:
            raise _ChainProblem(
                None,
                f"purge {pid}: batches {first_seq}..{last_seq} do not follow on from the "
                f"previous purge (purge log altered)",
            )
        expected_first = last_seq + 1
    if not purges:
        return _Anchor(1, GENESIS_HASH, 0, 0), purges
    _, _, last_seq, anchor_hash, reading_hw, event_hw, *_ = purges[-1]
    return _Anchor(last_seq + 1, anchor_hash, reading_hw, event_hw), purges


def _check_range(
    seq: int, what: str, first: int | None, last: int | None, count: int, hw: int
) -> None:
    if count == 0:
        if first is not None or last is not None:
            raise _ChainProblem(seq, f"batch {seq}: {what} id range without {what} (batch altered)")
        return
    if first != hw + 1 or last != first + count - 1:
        raise _ChainProblem(
            seq,
            f"batch {seq}: {what} ids {first}..{last} do not follow on from {hw} for {count} "
            f"{what} (batch record altered)",
        )


def _walk(conn: sqlite3.Connection, anchor: _Anchor) -> Generator[_Walked, None, None]:
    """Verify batch after batch from the anchor, yielding each good one; raise _ChainProblem."""
    expected_seq = anchor.next_seq
    prev_hash = anchor.prev_hash
    reading_hw = anchor.reading_hw
    event_hw = anchor.event_hw
    earlier = conn.execute("SELECT min(seq) FROM batches").fetchone()[0]
    if earlier is not None and earlier < anchor.next_seq:
        raise _ChainProblem(
            earlier, f"batch {earlier} precedes the last retention purge (it should be gone)"
        )
    for row in conn.execute(_SELECT_BATCHES, (anchor.next_seq,)):
        (seq, fmt, committed, first_r, last_r, n_r, first_e, last_e, n_e, prev, stored) = row
        if seq != expected_seq:
            raise _ChainProblem(expected_seq, f"batch {expected_seq} missing (seq gap)")
        if prev != prev_hash:
            after = "the last retention purge" if seq == anchor.next_seq else f"batch {seq - 1}"
            raise _ChainProblem(
                seq, f"batch {seq}: prev_hash does not match the hash of {after} (chain broken)"
            )
        if fmt != HASH_FORMAT:
            raise _ChainProblem(seq, f"batch {seq}: unknown hash format {fmt!r}")
        _check_range(seq, "readings", first_r, last_r, n_r, reading_hw)
        _check_range(seq, "events", first_e, last_e, n_e, event_hw)
        reading_rows = (
            conn.execute(_SELECT_READING_ROWS, (first_r, last_r)).fetchall() if n_r else []
        )
        if len(reading_rows) != n_r:
            raise _ChainProblem(
                seq,
                f"batch {seq}: {len(reading_rows)} readings found, {n_r} recorded (rows missing)",
            )
        event_rows = conn.execute(_SELECT_EVENT_ROWS, (first_e, last_e)).fetchall() if n_e else []
        if len(event_rows) != n_e:
            raise _ChainProblem(
                seq, f"batch {seq}: {len(event_rows)} events found, {n_e} recorded (rows missing)"
            )
        max_ts: int | None = None
        readings_bytes = events_bytes = b""
        computed: str | None = None
        try:
            if reading_rows:
                _, channels, ts, values, qualities, flags, details, batch = zip(
                    *reading_rows, strict=True
                )
                if batch.count(seq) != n_r:
                    raise ValueError("a reading's batch number was altered")
                readings_bytes = _readings_bytes(
                    ts, flags, channels, qualities, details, values, _value_tags(values)
                )
                max_ts = max(ts)
            if event_rows:
                _, e_ts, kinds, sources, messages, data, persons, e_batch = zip(
                    *event_rows, strict=True
                )
                if e_batch.count(seq) != n_e:
                    raise ValueError("an event's batch number was altered")
                events_bytes = _events_bytes(e_ts, kinds, sources, messages, data, persons)
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
            computed = _batch_hash(prev_hash, header, readings_bytes, events_bytes)
        except _ENCODING_ERRORS:
            computed = None  # a column holds what append never writes: altered
        if computed != stored:
            raise _ChainProblem(
                seq, f"batch {seq}: hash mismatch (a reading or event in it was altered)"
            )
        reading_hw = last_r if n_r else reading_hw
        event_hw = last_e if n_e else event_hw
        yield _Walked(seq, n_r, n_e, stored, reading_hw, event_hw, max_ts)
        prev_hash = stored
        expected_seq = seq + 1


def _check_coverage(
    conn: sqlite3.Connection, table: str, anchor_hw: int, end_hw: int, next_seq: int
) -> None:
    """Every row must lie in a verified batch's id range: nothing before or after the chain."""
    low, high = conn.execute(f"SELECT min(id), max(id) FROM {table}").fetchone()
    if low is None:
        return
    if low <= anchor_hw:
        raise _ChainProblem(
            None,
            f"{table[:-1]} id {low} is older than the chain's start (written outside the chain, "
            f"or left over from a purge)",
        )
    if high > end_hw:
        first = conn.execute(f"SELECT min(id) FROM {table} WHERE id > ?", (end_hw,)).fetchone()[0]
        raise _ChainProblem(
            next_seq,
            f"{table} from id {first} are not covered by any batch (batch {next_seq} missing, "
            f"or rows written outside the chain)",
        )


def _check_purge_event(conn: sqlite3.Connection, purge: tuple[Any, ...]) -> None:
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
        raise _ChainProblem(
            None, f"purge {pid} does not match its retention_purge event {event_id} (altered)"
        )


def _check_configs(conn: sqlite3.Connection) -> None:
    for cid, sha, effective in conn.execute(
        "SELECT id, sha256, effective FROM config_versions ORDER BY id"
    ):
        content = effective.encode("utf-8") if isinstance(effective, str) else None
        if content is None or hashlib.sha256(content).hexdigest() != sha:
            raise _ChainProblem(
                None, f"config version {cid}: sha256 does not match its content (altered)"
            )


# --- the store -------------------------------------------------------------------------------

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
        reading_columns = _ReadingColumns.of(readings) if readings else None
        event_columns = _EventColumns.of(events) if events else None
        with self._lock:
            conn = self._write_conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    info = self._append_locked(conn, reading_columns, event_columns)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"append failed, nothing of the batch was written: {exc}") from exc
        return info

    def _append_locked(
        self,
        conn: sqlite3.Connection,
        rc: _ReadingColumns | None,
        ec: _EventColumns | None,
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
        digest = _batch_hash(
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
                    _rollback(conn)
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
                    _rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"retention purge failed, nothing was removed: {exc}") from exc
        return removed

    def _purge_locked(
        self, conn: sqlite3.Connection, before: datetime, cutoff: int, person: str, reason: str
    ) -> int:
        purged: list[_Walked] = []
        try:
            anchor, _ = _anchor(conn)
            with contextlib.closing(_walk(conn, anchor)) as walker:
                for walked in walker:
                    if walked.max_ts is None or walked.max_ts >= cutoff:
                        break
                    purged.append(walked)
        except _ChainProblem as problem:
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
        self._append_locked(conn, None, _EventColumns.of([event]))
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
                anchor, purges = _anchor(conn)
                reading_hw, event_hw, next_seq = anchor.reading_hw, anchor.event_hw, anchor.next_seq
                for walked in _walk(conn, anchor):
                    batches += 1
                    readings += walked.readings
                    events += walked.events
                    reading_hw, event_hw, next_seq = (
                        walked.reading_hw,
                        walked.event_hw,
                        walked.seq + 1,
                    )
                _check_coverage(conn, "readings", anchor.reading_hw, reading_hw, next_seq)
                _check_coverage(conn, "events", anchor.event_hw, event_hw, next_seq)
                if purges:
                    _check_purge_event(conn, purges[-1])
                _check_configs(conn)
            except _ChainProblem as problem:
                return VerifyResult(False, batches, readings, events, problem.seq, problem.message)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"verification could not read the store: {exc}") from exc
        finally:
            conn.close()
        return VerifyResult(True, batches, readings, events)


def _reading(row: tuple[Any, ...]) -> Reading:
    channel, ts, value, quality, flags, detail = row
    try:
        q = _QUALITY_OF[quality]
    except KeyError:
        raise StoreError(f"reading of {channel} has an unknown quality {quality!r}") from None
    return Reading(channel, from_us(ts), value, q, flags, detail)
