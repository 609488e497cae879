"""Electronic signatures in SQLite (``migrations/0005_signatures.sql``): written with the record
they sign, in its transaction, and bound to it both ways; checked by ``coldwatch verify``.

Writing
    A signed alarm command's history row carries its signature in ``data["signature"]``
    (:class:`monitor.core.esign.Signature`). :meth:`SQLiteStore.append_alarm_records
    <monitor.store.sqlite.SQLiteStore.append_alarm_records>` calls :func:`append` in the alarm
    history's own transaction: one ``signatures`` row per signed row, naming the record's table,
    its seq and its hash in the alarm history's chain. If the signature row cannot be written,
    neither is the record (and the other way round). A row carried through the fallback
    journal while the disk refused it is signed when it is written, with the hash it gets then.

The binding (21 CFR 11.70)
    The signature names the record's hash, and the record (whose hash covers its data) carries
    the signature. :func:`check_bindings` checks, for every signature, that the record it names
    exists, still has the hash it signed, is of the action signed and carries that very
    signature; and, for every record that carries a signature, that a signature row names it.
    So a signature moved or copied onto another record, a record altered after signing (and
    its chain recomputed), or a signature row removed, is reported with the signature's seq and
    the record's. Like every chain in the file, a rewrite of *both* tables and both chains from
    the edited rows on is not detected: anchoring the newest hashes outside the file would be.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from monitor.core.esign import RECORD_ACTION, Signature
from monitor.store.base import AlarmRecord
from monitor.store.canonical import from_us, to_us
from monitor.store.chain import ChainProblem
from monitor.store.side_chain import SIGNATURE_LOG, append_in_transaction, table_columns

ALARM_HISTORY: Final = "alarm_history"
_SELECT: Final = f"SELECT seq, {', '.join(SIGNATURE_LOG.columns)} FROM signatures"


@dataclass(frozen=True, slots=True)
class StoredSignature:
    """A signature row: the signature, the record it binds (table, seq, hash), its own seq,
    and when it was written."""

    seq: int
    signature: Signature
    record_table: str
    record_seq: int
    record_hash: str
    recorded_at: datetime


def signature_in(record: AlarmRecord) -> Signature | None:
    """The signature ``record`` carries, checked against its action; None when unsigned.
    Raises ValueError for a signature the store must not write (unreadable, or of another
    action): then the record is not written either."""
    found = record.data.get("signature")
    if found is None:
        return None
    if not isinstance(found, dict):
        raise ValueError(f"alarm record {record.key}: its signature is not an object")
    try:
        signature = Signature.from_json(found)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"alarm record {record.key}: unreadable signature ({exc})") from exc
    if RECORD_ACTION.get(signature.action) != record.action:
        raise ValueError(
            f"alarm record {record.key}: a signature for {signature.action!r} cannot sign a "
            f"{record.action!r} record"
        )
    if signature.to_json() != found:
        raise ValueError(f"alarm record {record.key}: its signature has unknown fields")
    return signature


def append(conn: sqlite3.Connection, committed: Sequence[AlarmRecord], now_us: int) -> list[int]:
    """Inside the alarm history's transaction, after its rows: a signature row for each
    signed one, bound to its hash. Returns the signatures' seqs."""
    rows = []
    for record in committed:
        signature = signature_in(record)
        if signature is None:
            continue
        found = conn.execute(
            "SELECT hash FROM alarm_history WHERE seq = ?", (record.seq,)
        ).fetchone()
        if found is None:  # pragma: no cover - the row was inserted in this transaction
            raise sqlite3.IntegrityError(f"alarm history row {record.seq} is not there to sign")
        rows.append(_row(signature, now_us, ALARM_HISTORY, int(record.seq or 0), str(found[0])))
    if not rows:
        return []
    return append_in_transaction(conn, SIGNATURE_LOG, rows)


def _row(
    signature: Signature, now_us: int, table: str, record_seq: int, record_hash: str
) -> tuple[Any, ...]:
    sync = signature.clock_synchronised
    return (
        to_us(signature.signed_at),
        now_us,
        table,
        record_seq,
        record_hash,
        signature.user_id,
        signature.printed_name,
        signature.meaning,
        signature.comment,
        signature.action,
        signature.credentials,
        signature.session_id,
        None if sync is None else int(sync),
    )


def stored_of(row: Sequence[Any]) -> StoredSignature:
    seq, signed, recorded, table, record_seq, record_hash, user_id, name, meaning = row[:9]
    comment, action, credentials, session_id, sync = row[9:14]
    signature = Signature(
        user_id=user_id,
        printed_name=name,
        meaning=meaning,
        comment=comment,
        action=action,
        signed_at=from_us(signed),
        credentials=credentials,
        session_id=session_id,
        clock_synchronised=None if sync is None else bool(sync),
    )
    return StoredSignature(seq, signature, table, record_seq, record_hash, from_us(recorded))


def select(table: str | None = None, record_seq: int | None = None) -> tuple[str, list[Any]]:
    """The signatures of one record (or every one of a table, or all), oldest first."""
    clauses: list[str] = []
    params: list[Any] = []
    if table is not None:
        clauses.append("record_table = ?")
        params.append(table)
    if record_seq is not None:
        clauses.append("record_seq = ?")
        params.append(record_seq)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"{_SELECT}{where} ORDER BY seq", params


# --- verify ------------------------------------------------------------------------------------


def check_bindings(conn: sqlite3.Connection) -> int:
    """Check every signature against the record it names, and every signed record against its
    signature (see the module docstring); return how many signatures there are, or raise
    :class:`ChainProblem` naming the signature and the record. Run in the caller's read
    transaction."""
    if not table_columns(conn, "signatures"):
        return 0
    bound: dict[int, int] = {}
    count = 0
    for row in conn.execute(_SELECT + " ORDER BY seq").fetchall():
        count += 1
        try:
            stored = stored_of(row)
        except (ValueError, TypeError) as exc:
            raise ChainProblem(None, f"signature {row[0]}: unreadable ({exc})") from None
        _check_one(conn, stored)
        if stored.record_seq in bound:
            raise ChainProblem(
                None,
                f"signatures {bound[stored.record_seq]} and {stored.seq} both sign alarm "
                f"history row {stored.record_seq}: one of them was copied onto it",
            )
        bound[stored.record_seq] = stored.seq
    query = "SELECT seq, data FROM alarm_history WHERE data LIKE '%\"signature\":%' ORDER BY seq"
    for seq, data in conn.execute(query):
        if seq not in bound and _carries_signature(data):
            raise ChainProblem(
                None,
                f"alarm history row {seq} carries a signature but no signature row names it "
                "(signature removed, or moved onto another record)",
            )
    return count


def _check_one(conn: sqlite3.Connection, stored: StoredSignature) -> None:
    seq, record_seq = stored.seq, stored.record_seq
    if stored.record_table != ALARM_HISTORY:
        raise ChainProblem(
            None, f"signature {seq} names a record of unknown table {stored.record_table!r}"
        )
    found = conn.execute(
        "SELECT action, data, hash FROM alarm_history WHERE seq = ?", (record_seq,)
    ).fetchone()
    named = f"signature {seq} (signed by {stored.signature.user_id}) names alarm history row "
    if found is None:
        raise ChainProblem(None, f"{named}{record_seq}, which is not there")
    action, data, record_hash = found
    if record_hash != stored.record_hash:
        raise ChainProblem(
            None,
            f"{named}{record_seq}, but the row's hash is not the one signed: the record was "
            "altered after signing, or the signature was copied onto it from another record",
        )
    try:
        carried = json.loads(data).get("signature")
    except (ValueError, AttributeError):
        carried = None
    if carried != stored.signature.to_json():
        raise ChainProblem(
            None,
            f"{named}{record_seq}, but that record does not carry this signature: the "
            "signature was copied onto it from another record (or the row was altered)",
        )
    if RECORD_ACTION.get(stored.signature.action) != action:
        raise ChainProblem(
            None,
            f"{named}{record_seq}, a {action!r} record, but signs {stored.signature.action!r}",
        )


def _carries_signature(data: str) -> bool:
    try:
        parsed = json.loads(data)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("signature") is not None
