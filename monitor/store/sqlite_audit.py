"""The audit trail in SQLite (``migrations/0004_audit.sql``): append on its side-log hash chain,
the entries alarm commands make, and the queries of ``coldwatch audit``.

Alarm commands (acknowledge, reset, shelve, unshelve, out of service, return to service) are
audited where they are recorded: :meth:`SQLiteStore.append_alarm_records
<monitor.store.sqlite.SQLiteStore.append_alarm_records>` writes their entries in the alarm
history's own transaction (:func:`entries_of_alarm_records`), so an alarm command is never in
one record and missing from the other, and a command kept in the fallback journal while the
disk refused it reaches the audit trail when the journal writes it (its entry then says when
it was recorded late). Secrets never reach a row: every value is redacted by key name once
more (:func:`monitor.core.secrets.redact`) before it is hashed and written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

from monitor.core.secrets import redact
from monitor.store.base import AlarmRecord, AuditEntry, AuditQuery
from monitor.store.canonical import canonical_json, from_us, to_us
from monitor.store.side_chain import AUDIT_LOG, append_in_transaction

#: The alarm history actions that are people's commands, audited as ``alarm.<action>``.
ALARM_COMMANDS: Final = frozenset(
    {"acknowledged", "reset", "shelved", "unshelved", "out_of_service", "returned_to_service"}
)
#: The ways a command reaches coldwatch (``system``: coldwatch itself; ``unknown``: a command
#: given by a program that did not say through what, never by one of coldwatch's paths;
#: ``api``: an API token acting for a person; ``http``: the alarm API's old listener).
METHODS: Final = ("cli", "sms", "voice", "web", "api", "http", "system", "unknown")

_SELECT: Final = f"SELECT seq, {', '.join(AUDIT_LOG.columns)} FROM audit_log"


def _json(value: Any) -> str | None:
    return None if value is None else canonical_json(redact(value))


def row_of(entry: AuditEntry) -> tuple[Any, ...]:
    """The values of ``entry`` in :data:`AUDIT_LOG` column order, secrets redacted."""
    sync = entry.clock_synchronised
    return (
        to_us(entry.at),
        entry.action,
        entry.method,
        entry.person,
        entry.user_id,
        entry.os_user,
        entry.subject,
        entry.equipment,
        entry.reason,
        _json(entry.old),
        _json(entry.new),
        _json(entry.detail),
        None if sync is None else int(sync),
    )


def entry_of(row: Sequence[Any]) -> AuditEntry:
    seq, at_us, action, method, person, user_id, os_user, subject, equipment = row[:9]
    reason, old, new, detail, sync = row[9:14]
    return AuditEntry(
        at=from_us(at_us),
        action=action,
        method=method,
        person=person,
        user_id=user_id,
        os_user=os_user,
        subject=subject,
        equipment=equipment,
        reason=reason,
        old=None if old is None else json.loads(old),
        new=None if new is None else json.loads(new),
        detail=None if detail is None else json.loads(detail),
        clock_synchronised=None if sync is None else bool(sync),
        seq=seq,
    )


def append(conn: sqlite3.Connection, entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    """Inside the caller's write transaction; the entries with their ``seq``."""
    if not entries:
        return []
    seqs = append_in_transaction(conn, AUDIT_LOG, [row_of(e) for e in entries])
    return [replace(entry, seq=seq) for entry, seq in zip(entries, seqs, strict=True)]


def entries_of_alarm_records(
    records: Iterable[AlarmRecord], clock_synchronised: bool | None = None
) -> list[AuditEntry]:
    """The audit entries of the people's commands among alarm history rows (with their
    ``seq``): one per row, at the time it took effect."""
    out = []
    for record in records:
        if record.action not in ALARM_COMMANDS or record.person is None:
            continue
        data = record.data
        alarm = _mapping(data.get("alarm"))
        detail_in = _mapping(data.get("detail"))
        new: dict[str, Any] = {"state": record.state}
        if "until" in detail_in:
            new["until"] = detail_in["until"]
        detail: dict[str, Any] = {"alarm_key": record.key, "alarm_history_seq": record.seq}
        if isinstance(data.get("origin"), str):
            detail["origin"] = data["origin"]  # what authenticated the person on that path
        if data.get("recorded_late_at"):
            detail["recorded_late_at"] = data["recorded_late_at"]
        equipment = alarm.get("equipment")
        signature = _mapping(data.get("signature"))
        if signature:  # an e-signed command: the signer and the meaning (the signature row
            # itself is in the signatures table, bound to the history row)
            detail["signature"] = {
                key: signature[key]
                for key in ("meaning", "signed_at", "credentials")
                if key in signature
            }
        user_id = signature.get("user_id")
        out.append(
            AuditEntry(
                at=record.recorded_at,
                action=f"alarm.{record.action}",
                method=record.via or "unknown",
                person=record.person,
                user_id=user_id if isinstance(user_id, str) else None,
                subject=record.code or record.key,
                equipment=equipment if isinstance(equipment, str) else None,
                reason=record.comment,
                old={"state": record.previous},
                new=new,
                detail=detail,
                clock_synchronised=clock_synchronised,
            )
        )
    return out


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def select(query: AuditQuery) -> tuple[str, list[Any]]:
    """The SQL and parameters of ``query``."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.since is not None:
        clauses.append("at_us >= ?")
        params.append(to_us(query.since))
    if query.until is not None:
        clauses.append("at_us < ?")
        params.append(to_us(query.until))
    if query.person is not None:
        clauses.append("(person = ? OR user_id = ? OR os_user = ?)")
        params += [query.person] * 3
    if query.equipment is not None:
        clauses.append("equipment = ?")
        params.append(query.equipment)
    if query.action is not None:
        if query.action.endswith("."):
            clauses.append("substr(action, 1, ?) = ?")
            params += [len(query.action), query.action]
        else:
            clauses.append("action = ?")
            params.append(query.action)
    if query.before_seq is not None:
        clauses.append("seq < ?")
        params.append(query.before_seq)
    sql = _SELECT + (f" WHERE {' AND '.join(clauses)}" if clauses else "") + " ORDER BY seq"
    if query.newest_first:
        sql += " DESC"
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    return sql, params
