"""Checking the side logs' hash chains, for ``coldwatch verify``.

:func:`verify_file` walks every side log (:data:`~monitor.store.side_chain.SIDE_LOGS`) in the
store's file in one read transaction and says, for each, whether its chain is intact: every row
in seq order without gaps, each hash rebuilt from the row and the one before, the rows that
precede the chain matching their anchor's seal, and the table's sequence counter not past the
last row (the format is described in :mod:`monitor.store.side_chain`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.store.canonical import GENESIS_HASH
from monitor.store.side_chain import (
    CHAIN_COLUMNS,
    SIDE_LOGS,
    SideLog,
    anchor_of,
    anchor_seal,
    row_hash,
    sequence_counter,
    table_columns,
)
from monitor.store.sqlite_schema import connect


@dataclass(frozen=True, slots=True)
class SideLogCheck:
    """What :func:`verify` found in one side log."""

    log: SideLog
    ok: bool
    rows: int = 0
    chained: bool = True
    """False: the table has no chain columns yet (written only by an earlier coldwatch, or by a
    writer that does not chain it); nothing to check, not a problem."""
    earlier: int = 0
    """Rows that precede the chain (sealed by its anchor)."""
    bad_seq: int | None = None
    problem: str | None = None

    def line(self) -> str:
        """One line for ``coldwatch verify``."""
        name = self.log.label
        if not self.ok:
            return f"{name}: FAILED: {self.problem}"  # the problem names the row
        if not self.chained:
            return f"{name}: {_rows(self.rows)}, not hash-chained (the table has no hash columns)"
        text = f"{name}: {_rows(self.rows)}, hash chain intact"
        if self.earlier:
            verb = "precedes" if self.earlier == 1 else "precede"
            text += f" ({_rows(self.earlier, 'earlier ')} {verb} the chain, sealed by its anchor)"
        return text


def _rows(count: int, what: str = "") -> str:
    return f"{count} {what}row" if count == 1 else f"{count} {what}rows"


class _Broken(Exception):
    def __init__(self, seq: int | None, message: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.message = message


def verify(conn: sqlite3.Connection, log: SideLog) -> SideLogCheck | None:
    """Walk ``log``'s table and check its chain; None if the file has no such table. Reads
    only; run it in one read transaction for a consistent snapshot."""
    present = table_columns(conn, log.table)
    if not present:
        return None
    total = int(conn.execute(f"SELECT count(*) FROM {log.table}").fetchone()[0])
    if not all(name in present for name in CHAIN_COLUMNS):
        return SideLogCheck(log, True, total, chained=False)
    anchor = anchor_of(conn, log.table)
    try:
        earlier = _walk(conn, log, anchor, present)
    except _Broken as broken:
        return SideLogCheck(log, False, total, bad_seq=broken.seq, problem=broken.message)
    return SideLogCheck(log, True, total, earlier=earlier)


def _walk(
    conn: sqlite3.Connection,
    log: SideLog,
    anchor: tuple[int, int, str] | None,
    present: set[str],
) -> int:
    """Check every row; return how many precede the chain; raise _Broken. A column added by a
    later coldwatch that the table does not have yet reads as NULL (left out of the hash)."""
    earlier_rows, last_early, anchor_hash = anchor if anchor is not None else (0, 0, GENESIS_HASH)
    seal = GENESIS_HASH
    prev = GENESIS_HASH if anchor is None else anchor_hash
    if anchor is not None and earlier_rows != last_early:
        raise _Broken(
            None,
            f"the anchor says {earlier_rows} rows precede the chain, up to row {last_early} "
            f"(anchor altered)",
        )
    expected = 1
    width = len(log.columns)
    selected = ", ".join(name if name in present else "NULL" for name in log.columns)
    query = f"SELECT seq, {selected}, prev_hash, hash FROM {log.table} ORDER BY seq"
    for row in conn.execute(query):
        seq = row[0]
        values = row[1 : 1 + width]
        stored_prev, stored = row[1 + width], row[2 + width]
        if seq != expected:
            raise _Broken(expected, _gap(expected, seq))
        expected = seq + 1
        if seq <= last_early:
            if stored_prev is not None or stored is not None:
                raise _Broken(
                    seq, f"row {seq} precedes the chain's anchor but has a hash (altered)"
                )
            seal = _seal_or_none(log, seal, seq, values)
            if seq == last_early and seal != anchor_hash:
                raise _Broken(
                    None,
                    f"the {earlier_rows} rows before the chain (1..{last_early}) do not match "
                    f"its anchor: one of them was altered",
                )
            continue
        if stored is None:
            raise _Broken(seq, f"row {seq} has no hash (written outside the chain)")
        if stored_prev != prev:
            after = (
                "the anchor of the earlier rows"
                if seq == last_early + 1 and anchor is not None
                else "the chain's start (64 zeros)"
                if seq == 1
                else f"row {seq - 1}"
            )
            raise _Broken(
                seq, f"row {seq}: prev_hash does not match the hash of {after} (chain broken)"
            )
        if _hash_or_none(log, prev, seq, values) != stored:
            raise _Broken(seq, f"row {seq}: hash mismatch (the row was altered)")
        prev = stored
    last = expected - 1
    if anchor is not None and last < last_early:
        raise _Broken(last + 1, f"rows {last + 1}..{last_early} before the chain are missing")
    counter = sequence_counter(conn, log.table)
    if counter > last:
        raise _Broken(
            last + 1,
            f"rows {last + 1}..{counter} missing: removed from the end (the table's sequence "
            f"counter is at {counter})",
        )
    return min(last, last_early) if anchor is not None else 0


def _gap(expected: int, seq: int) -> str:
    missing = f"row {expected}" if seq == expected + 1 else f"rows {expected}..{seq - 1}"
    before = f"row {expected - 1}" if expected > 1 else "the start of the table"
    return f"{missing} missing (seq gap: row {seq} follows {before})"


def _hash_or_none(log: SideLog, prev: str, seq: int, values: Sequence[Any]) -> str | None:
    try:
        return row_hash(log, prev, seq, values)
    except (TypeError, ValueError, UnicodeError):  # a stored value append never writes
        return None


def _seal_or_none(log: SideLog, prev: str, seq: int, values: Sequence[Any]) -> str:
    try:
        return anchor_seal(log, prev, seq, values)
    except (TypeError, ValueError, UnicodeError):
        return ""


def verify_file(path: str | Path) -> list[SideLogCheck]:
    """Check every side log (:data:`SIDE_LOGS`) present in the store file ``path``, in one read
    transaction; raises :class:`sqlite3.Error` when the file cannot be read."""
    if not Path(path).is_file():
        return []
    conn = connect(path, read_only=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        try:
            found = [verify(conn, log) for log in SIDE_LOGS]
        finally:
            conn.execute("COMMIT")
    finally:
        conn.close()
    return [check for check in found if check is not None]
