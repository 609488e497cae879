"""Electronic signatures in the store (monitor/store/sqlite_signatures.py,
migrations/0005_signatures.sql): written with their record in one transaction or not at all,
append-only and hash-chained, and bound to the record both ways so that verify finds a
signature copied onto another record, a signed record altered, a signature removed."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app.cli import main
from monitor.core.esign import Signature
from monitor.store import sqlite_alarms
from monitor.store.base import AlarmRecord, AuditQuery, StoreError
from monitor.store.canonical import GENESIS_HASH
from monitor.store.side_chain import SIGNATURE_LOG, row_hash
from monitor.store.side_chain_verify import verify_file
from monitor.store.sqlite import SQLiteStore
from tests.support.paths import REPO
from tests.support.store_data import drop_triggers

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def signature(minute: int = 0, **kw: Any) -> Signature:
    base: dict[str, Any] = {
        "user_id": "dreyes",
        "printed_name": "Dana Reyes",
        "meaning": "Acknowledged: product checked and safe",
        "comment": "door was ajar, closed it, product at -78 C",
        "action": "acknowledge",
        "signed_at": T0 + timedelta(minutes=minute, microseconds=123),
        "credentials": "user_id_and_password",
        "session_id": "0123abcd",
        "clock_synchronised": True,
    }
    base.update(kw)
    return Signature(**base)


def record(
    minute: int, signed: Signature | None = None, action: str = "acknowledged"
) -> AlarmRecord:
    at = T0 + timedelta(minutes=minute)
    data: dict[str, Any] = {"alarm": {"equipment": "freezer-07"}}
    if signed is not None:
        data["signature"] = signed.to_json()
    return AlarmRecord(
        recorded_at=at,
        at=at,
        key=f"freezer-0{minute % 9}.cabinet_temp/high",
        action=action,
        state="ACKED",
        code=f"A10{minute:02d}",
        previous="UNACK",
        person="dreyes",
        via="web",
        comment="door was ajar",
        data=data,
    )


def test_a_signed_record_and_its_signature_are_written_together(store: SQLiteStore) -> None:
    committed = store.append_alarm_records(
        [record(0, signature(0)), record(1, action="raised"), record(2, signature(2))]
    )
    found = store.signatures()
    assert [(s.seq, s.record_table, s.record_seq) for s in found] == [
        (1, "alarm_history", committed[0].seq),
        (2, "alarm_history", committed[2].seq),
    ]
    assert found[0].signature == signature(0)  # every field back, microseconds included
    result = store.verify()
    assert result.ok and result.signatures == 2 and result.alarm_records == 3
    [audited, _] = store.audit_entries(AuditQuery())
    assert audited.user_id == "dreyes"
    assert audited.detail is not None and audited.detail["signature"] == {
        "meaning": "Acknowledged: product checked and safe",
        "signed_at": "2026-03-01T12:00:00.000123+00:00",
        "credentials": "user_id_and_password",
    }


def test_when_the_signature_cannot_be_written_the_record_is_not_either(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    raw.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON signatures "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    with pytest.raises(StoreError, match="disk says no"):
        store.append_alarm_records([record(0, signature(0))])
    assert store.alarm_records() == [] and store.signatures() == []
    assert store.audit_entries(AuditQuery()) == []
    raw.execute("DROP TRIGGER refuse")
    store.append_alarm_records([record(1, signature(1))])
    assert [r.seq for r in store.alarm_records()] == [1]  # no gap: nothing half-written before
    assert store.verify().ok


def test_a_signature_for_another_action_or_unreadable_is_refused_with_its_record(
    store: SQLiteStore,
) -> None:
    wrong = record(0, signature(0, action="shelve"))  # an acknowledgement signed as a shelve
    with pytest.raises(ValueError, match="cannot sign"):
        store.append_alarm_records([wrong])
    broken = record(1)
    broken.data["signature"] = {"user_id": "dreyes"}
    with pytest.raises(ValueError, match="unreadable signature"):
        store.append_alarm_records([broken])
    assert store.alarm_records() == [] and store.signatures() == []


def test_signatures_are_append_only(store: SQLiteStore, raw: sqlite3.Connection) -> None:
    store.append_alarm_records([record(0, signature(0))])
    for sql in ("UPDATE signatures SET meaning = 'x'", "DELETE FROM signatures"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute(sql)


def _rechain(raw: sqlite3.Connection) -> None:
    """Recompute the signature chain after an edit, as a tamperer who read the format would."""
    prev = GENESIS_HASH
    cols = ", ".join(SIGNATURE_LOG.columns)
    for seq, *values in raw.execute(f"SELECT seq, {cols} FROM signatures ORDER BY seq").fetchall():
        digest = row_hash(SIGNATURE_LOG, prev, seq, values)
        raw.execute(
            "UPDATE signatures SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq)
        )
        prev = digest


def test_a_signature_copied_onto_another_record_fails_verify_naming_both(
    store: SQLiteStore, raw: sqlite3.Connection, db_path: Path
) -> None:
    store.append_alarm_records([record(0, signature(0)), record(1)])  # row 2 is unsigned
    drop_triggers(raw)
    # the binding moved onto row 2, its hash too, and the signature chain recomputed
    other_hash = raw.execute("SELECT hash FROM alarm_history WHERE seq = 2").fetchone()[0]
    raw.execute(
        "UPDATE signatures SET record_seq = 2, record_hash = ? WHERE seq = 1", (other_hash,)
    )
    _rechain(raw)
    assert all(check.ok for check in verify_file(db_path))  # the chain alone is intact
    result = store.verify()
    assert not result.ok
    assert result.problem is not None
    assert "signature 1 (signed by dreyes) names alarm history row 2" in result.problem
    assert "does not carry this signature" in result.problem


def test_a_signature_copied_as_a_second_one_is_found(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    store.append_alarm_records([record(0, signature(0))])
    drop_triggers(raw)
    cols = ", ".join(SIGNATURE_LOG.columns)
    raw.execute(
        f"INSERT INTO signatures (seq, {cols}, prev_hash, hash) "
        f"SELECT 2, {cols}, '', '' FROM signatures WHERE seq = 1"
    )
    _rechain(raw)
    result = store.verify()
    assert not result.ok and result.problem is not None
    assert "signatures 1 and 2 both sign alarm history row 1" in result.problem


def test_a_signed_record_altered_after_signing_fails_verify(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    store.append_alarm_records([record(0, signature(0)), record(1)])
    drop_triggers(raw)
    raw.execute("UPDATE alarm_history SET comment = 'nothing to see' WHERE seq = 1")
    result = store.verify()
    assert not result.ok and "alarm history row 1: hash mismatch" in str(result.problem)
    # the alarm history's chain recomputed too: the signature still names the old hash
    prev = GENESIS_HASH
    for row in raw.execute(
        "SELECT seq, recorded_at, at, key, code, action, state, previous, announce, late, "
        "person, via, comment, data FROM alarm_history ORDER BY seq"
    ).fetchall():
        digest = sqlite_alarms.row_hash(prev, row)
        raw.execute(
            "UPDATE alarm_history SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, row[0])
        )
        prev = digest
    result = store.verify()
    assert not result.ok and result.problem is not None
    assert "signature 1 (signed by dreyes) names alarm history row 1" in result.problem
    assert "altered after signing" in result.problem


def test_a_removed_signature_is_found_by_its_record(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    store.append_alarm_records([record(0, signature(0))])
    drop_triggers(raw)
    raw.execute("DELETE FROM signatures")
    raw.execute("DELETE FROM sqlite_sequence WHERE name = 'signatures'")
    result = store.verify()
    assert not result.ok
    assert "alarm history row 1 carries a signature but no signature row names it" in str(
        result.problem
    )


def test_a_signed_record_edited_to_carry_another_meaning_is_found(
    store: SQLiteStore, raw: sqlite3.Connection
) -> None:
    store.append_alarm_records([record(0, signature(0))])
    drop_triggers(raw)
    data = json.loads(raw.execute("SELECT data FROM alarm_history WHERE seq = 1").fetchone()[0])
    data["signature"]["meaning"] = "Acknowledged: I have read the alarm and act on it"
    raw.execute("UPDATE alarm_history SET data = ? WHERE seq = 1", (json.dumps(data),))
    assert not store.verify().ok


def test_coldwatch_verify_names_the_signature_and_the_record(
    store: SQLiteStore, raw: sqlite3.Connection, db_path: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    data = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(db_path)
    config = tmp_path / "coldwatch.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    store.append_alarm_records([record(0, signature(0)), record(1), record(2, signature(2))])
    assert main(["verify", "-c", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "electronic signatures: 2 bound to the records they sign" in out
    assert "electronic signatures (table signatures): 2 rows, hash chain intact" in out
    drop_triggers(raw)
    raw.execute("UPDATE signatures SET record_seq = 2 WHERE seq = 2")  # moved, chain not redone
    assert main(["verify", "-c", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "FAILED: signature 2 (signed by dreyes) names alarm history row 2, but the row's hash "
        "is not the one signed"
    )
    assert (
        "electronic signatures (table signatures): FAILED: row 2: hash mismatch "
        "(the row was altered)"
    ) in out
