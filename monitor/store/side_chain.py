"""Hash chains for the append-only side logs kept in the store's file.

The notification log, the escalation record, the PIN lockout log, the identity logs (user
versions, sign-ins, API tokens), the audit trail and the electronic signatures are tables of
their own beside the store's records, each written with :func:`append` (the tables of the
identity logs, the audit trail and the signatures come from the store's migrations, the others
are opened with :func:`open_side_log`; :mod:`monitor.store.side_chain_verify` checks their
chains). Triggers refuse UPDATE and DELETE on them, but anyone with the ``sqlite3`` shell can
drop a trigger; the chain makes such an edit evident, as the batch chain does for readings and
events.

The chain (format 1)
    Every row carries ``prev_hash`` and ``hash``: ``hash = SHA-256("coldwatch-side-v1\\n" ||
    table name || "\\n" || prev_hash || canonical JSON of {"seq": seq, column: value...})`` in
    lower-case hex, over the columns :class:`SideLog` names, a NULL column left out of the object
    (so a nullable column added later leaves the hashes of older rows valid). ``prev_hash`` is the
    previous row's hash; 64 zeros before the first row. ``seq`` runs 1, 2, 3... without gaps, and
    the table's AUTOINCREMENT counter (``sqlite_sequence``) must not be past the last row: a row
    removed from the middle or from the end is a gap. The table name in the hash keeps a row
    from being passed off as another table's.

Tables written before the chain
    A table created by an earlier coldwatch has no ``prev_hash``/``hash`` columns: the first
    open by this code adds them (``ALTER TABLE``) and, when the table already has rows, records
    an anchor in ``side_log_anchors`` (append-only too): how many rows precede the chain, the
    last of them, and a seal over them (the same chain with the prefix
    ``"coldwatch-side-anchor-v1\\n"``, from 64 zeros). The first chained row follows on from
    the seal. The earlier rows were not protected before the upgrade; from it on, altering one
    breaks the seal. A row without a hash after the anchor (inserted by hand, or by an older
    coldwatch after a downgrade) is reported: it was written outside the chain.

Values
    The values appended must be what SQLite gives back: ``int`` (``bool`` is taken as 0/1),
    ``float`` (finite), ``str`` or ``None``, each of the type its column's affinity keeps (an
    ``int`` for an INTEGER column, a ``str`` for a TEXT one), since verify rebuilds the hash from
    the stored row.

What it does not do
    Like the store's chain, it lives in the same file: someone who rewrites a row *and*
    recomputes every hash after it (the format is public) is not detected, nor is a removal
    from the end that also lowers ``sqlite_sequence``. Anchoring the newest hash outside the
    file is what would close that.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from monitor.core.model import utc_now
from monitor.store.canonical import GENESIS_HASH, canonical_json, to_us
from monitor.store.sqlite_schema import (
    append_only_triggers,
    connect,
    rollback,
    split_statements,
    write_transaction,
)

CHAIN_FORMAT: Final = 1
_ROW_PREFIX: Final = b"coldwatch-side-v1\n"
_ANCHOR_PREFIX: Final = b"coldwatch-side-anchor-v1\n"
CHAIN_COLUMNS: Final = ("prev_hash", "hash")

ANCHORS_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS side_log_anchors (
    table_name TEXT PRIMARY KEY,
    at_us INTEGER NOT NULL,
    earlier_rows INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    anchor_hash TEXT NOT NULL
);
{append_only_triggers("side_log_anchors")}
"""


@dataclass(frozen=True, slots=True)
class SideLog:
    """A chained side-log table: its name, what ``coldwatch verify`` calls it, and the columns
    the hash covers (every column but ``seq``, ``prev_hash`` and ``hash``, in the order the
    values are given to :func:`append`)."""

    table: str
    label: str
    columns: tuple[str, ...]
    insert_sql: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = ("seq", *self.columns, *CHAIN_COLUMNS)
        placeholders = ", ".join("?" * len(names))
        object.__setattr__(
            self,
            "insert_sql",
            f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({placeholders})",
        )


NOTIFICATION_LOG: Final = SideLog(
    "notification_log",
    "notification log",
    (
        "at_us", "key", "alarm_id", "person_id", "channel", "attempt", "status",
        "possible_duplicate", "outcome_unknown", "final", "retryable", "provider_id", "error",
        "notification", "recorded_late_us",
    ),
)  # fmt: skip
ESCALATION_LOG: Final = SideLog(
    "escalation_log",
    "escalation record",
    ("at_us", "action", "track", "code", "alarm_key", "closed", "event_id", "ann_seq", "data"),
)
LOCKOUT_LOG: Final = SideLog(
    "ack_lockout_log", "PIN lockout log", ("at_us", "lock_key", "action", "until_us")
)
USER_LOG: Final = SideLog(
    "user_versions",
    "user versions",
    (
        "at_us", "user_id", "version", "change", "printed_name", "role", "enabled", "person_id",
        "password_hash", "password_set_us", "password_one_time", "changed_by", "changed_by_kind",
        "os_user", "verified_by", "reason",
    ),
)  # fmt: skip
SIGN_IN_LOG: Final = SideLog(
    "sign_in_log",
    "sign-in log",
    ("at_us", "user_id", "action", "source", "session_id", "until_us", "detail"),
)
API_TOKEN_LOG: Final = SideLog(
    "api_token_log",
    "API token log",
    (
        "at_us", "token_id", "action", "token_hash", "role", "name", "expires_us", "changed_by",
        "reason", "owner",
    ),
)  # fmt: skip
AUDIT_LOG: Final = SideLog(
    "audit_log",
    "audit trail (table audit_log)",
    (
        "at_us", "action", "method", "person", "user_id", "os_user", "subject", "equipment",
        "reason", "old_value", "new_value", "detail", "clock_sync",
    ),
)  # fmt: skip
SIGNATURE_LOG: Final = SideLog(
    "signatures",
    "electronic signatures (table signatures)",
    (
        "signed_us", "recorded_us", "record_table", "record_seq", "record_hash", "user_id",
        "printed_name", "meaning", "comment", "action", "credentials", "session_id", "clock_sync",
    ),
)  # fmt: skip
#: Every side log ``coldwatch verify`` looks for in the store's file, in the order it reports.
SIDE_LOGS: Final = (
    NOTIFICATION_LOG, ESCALATION_LOG, LOCKOUT_LOG, USER_LOG, SIGN_IN_LOG, API_TOKEN_LOG, AUDIT_LOG,
    SIGNATURE_LOG,
)  # fmt: skip


# --- hashing -----------------------------------------------------------------------------------


def _link(prefix: bytes, log: SideLog, prev_hash: str, seq: int, values: Sequence[Any]) -> str:
    fields = {
        name: value for name, value in zip(log.columns, values, strict=True) if value is not None
    }
    fields["seq"] = seq
    digest = hashlib.sha256(prefix)
    digest.update(log.table.encode("utf-8"))
    digest.update(b"\n")
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(fields).encode("utf-8"))
    return digest.hexdigest()


def row_hash(log: SideLog, prev_hash: str, seq: int, values: Sequence[Any]) -> str:
    """The hash of row ``seq`` (its values in :attr:`SideLog.columns` order) after ``prev_hash``."""
    return _link(_ROW_PREFIX, log, prev_hash, seq, values)


def anchor_seal(log: SideLog, prev_hash: str, seq: int, values: Sequence[Any]) -> str:
    """The anchor's seal over the rows that precede the chain, one row at a time."""
    return _link(_ANCHOR_PREFIX, log, prev_hash, seq, values)


def _checked(values: Sequence[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for value in values:
        if value is None or type(value) in (int, str):
            out.append(value)
        elif isinstance(value, bool):
            out.append(int(value))
        elif type(value) is float:
            if not math.isfinite(value):
                raise ValueError(f"a side-log value must be finite, not {value!r}")
            out.append(value)
        else:
            raise TypeError(
                f"a side-log value must be int, float, str or None, not {type(value).__name__}"
            )
    return tuple(out)


# --- writing -----------------------------------------------------------------------------------


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The names of ``table``'s columns; none when the file has no such table."""
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def open_side_log(path: str | Path | None, schema: str, *chained: SideLog) -> sqlite3.Connection:
    """A connection for an append-only log kept beside the records (the notification log, the
    escalation record, the PIN lockout log): in the store's file when given one (open the
    store first, so that the file gets its migrations), else in memory; every commit synced
    (``synchronous=FULL``), so that what the log says was done is on disk before it is acted
    on.

    ``schema`` is run in one ``BEGIN IMMEDIATE`` transaction, with the upgrade of every table
    in ``chained`` to a hash-chained one (:func:`upgrade`: a table made by an earlier coldwatch
    gets its ``prev_hash``/``hash`` columns, and an anchor over the rows it has); write such a
    table with :func:`append`."""
    if path is None:
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    else:
        conn = connect(path, synchronous="FULL")
    try:
        conn.executescript("BEGIN IMMEDIATE;" + schema)
        for side_log in chained:
            upgrade(conn, side_log)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        conn.close()
        raise
    return conn


def upgrade(conn: sqlite3.Connection, log: SideLog) -> bool:
    """Give ``log``'s table its chain columns if it lacks them, sealing the rows it already has
    under an anchor; inside the caller's write transaction. True if it changed the table."""
    present = table_columns(conn, log.table)
    if not present:
        raise sqlite3.OperationalError(f"no such table: {log.table}")
    for name in log.columns:  # a nullable column added later: NULL is left out of the hash
        if name not in present:
            conn.execute(f"ALTER TABLE {log.table} ADD COLUMN {name}")
    missing = [name for name in CHAIN_COLUMNS if name not in present]
    if not missing:
        return False
    for name in missing:
        conn.execute(f"ALTER TABLE {log.table} ADD COLUMN {name} TEXT")
    seal, count, last_seq = GENESIS_HASH, 0, 0
    for seq, *values in conn.execute(
        f"SELECT seq, {', '.join(log.columns)} FROM {log.table} ORDER BY seq"
    ):
        seal = anchor_seal(log, seal, seq, values)
        count, last_seq = count + 1, seq
    if count:
        for statement in split_statements(ANCHORS_SCHEMA):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO side_log_anchors (table_name, at_us, earlier_rows, last_seq, anchor_hash)"
            " VALUES (?, ?, ?, ?, ?)",
            (log.table, to_us(utc_now()), count, last_seq, seal),
        )
    return True


def anchor_of(conn: sqlite3.Connection, table: str) -> tuple[int, int, str] | None:
    """(earlier_rows, last_seq, anchor_hash) of ``table``'s anchor; None without one."""
    try:
        row = conn.execute(
            "SELECT earlier_rows, last_seq, anchor_hash FROM side_log_anchors WHERE table_name = ?",
            (table,),
        ).fetchone()
    except sqlite3.OperationalError:  # no anchors table: nothing was ever upgraded
        return None
    return None if row is None else (int(row[0]), int(row[1]), str(row[2]))


def sequence_counter(conn: sqlite3.Connection, table: str) -> int:
    """The table's AUTOINCREMENT counter: the highest seq it ever handed out."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    return int(row[0]) if row is not None and isinstance(row[0], int) else 0


def _head(conn: sqlite3.Connection, log: SideLog) -> tuple[int, str]:
    """The seq the next row gets and the hash it follows on from."""
    row = conn.execute(f"SELECT seq, hash FROM {log.table} ORDER BY seq DESC LIMIT 1").fetchone()
    last_seq = 0 if row is None else int(row[0])
    next_seq = max(last_seq, sequence_counter(conn, log.table)) + 1
    if row is None:
        return next_seq, GENESIS_HASH
    if row[1] is not None:
        return next_seq, str(row[1])
    # the newest row has no hash: rows that predate the chain (its anchor), or rows written
    # outside it, which verify reports; carry on from the last hash there is
    found = conn.execute(
        f"SELECT hash FROM {log.table} WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if found is not None:
        return next_seq, str(found[0])
    anchor = anchor_of(conn, log.table)
    return next_seq, GENESIS_HASH if anchor is None else anchor[2]


def append(conn: sqlite3.Connection, log: SideLog, rows: Sequence[Sequence[Any]]) -> list[int]:
    """Append ``rows`` (values in :attr:`SideLog.columns` order) to ``log``'s table with their
    hashes, in one ``BEGIN IMMEDIATE`` transaction (the read of the newest hash and the inserts
    are atomic, even against another connection); return their seqs. The connection must be
    in autocommit mode and not in a transaction. A table still without its chain columns
    (opened without naming ``log`` to :func:`open_side_log`) is upgraded here first."""
    checked = [_checked(values) for values in rows]
    with write_transaction(conn):
        try:
            seq, prev = _head(conn, log)
        except sqlite3.OperationalError:
            if upgrade(conn, log) is False:
                raise
            seq, prev = _head(conn, log)
        return _insert(conn, log, seq, prev, checked)


def append_in_transaction(
    conn: sqlite3.Connection, log: SideLog, rows: Sequence[Sequence[Any]]
) -> list[int]:
    """:func:`append` inside the caller's write transaction (the audit entries of alarm
    commands commit with their alarm history rows, or neither does); the table must have its
    chain columns (a table its migration made)."""
    checked = [_checked(values) for values in rows]
    seq, prev = _head(conn, log)
    return _insert(conn, log, seq, prev, checked)


def _insert(
    conn: sqlite3.Connection, log: SideLog, seq: int, prev: str, rows: Sequence[Sequence[Any]]
) -> list[int]:
    seqs: list[int] = []
    for values in rows:
        digest = row_hash(log, prev, seq, values)
        conn.execute(log.insert_sql, (seq, *values, prev, digest))
        seqs.append(seq)
        prev, seq = digest, seq + 1
    return seqs
