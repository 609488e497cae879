"""Alarm commands with an electronic signature (alarms/commands.py EngineCommands.signed): the
history row carries the signature and commits with it, its audit entry names the signer; a
signature that cannot be written refuses the command and undoes it; on a full disk the signed
row waits in the fallback journal with its signature and both reach the store together."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alarms.engine import AlarmEngine
from alarms.model import AlarmCommandError, AlarmState
from monitor.core.clock import FakeClock
from monitor.core.esign import Signature
from monitor.store.base import AuditQuery, StoreError
from monitor.store.fallback_journal import FallbackJournal
from monitor.store.sqlite import SQLiteStore
from tests.support.alarm_engine import KEY, Factory, Harness, cfg, make_config


def signature(action: str = "acknowledge", **kw: Any) -> Signature:
    base: dict[str, Any] = {
        "user_id": "dreyes",
        "printed_name": "Dana Reyes",
        "meaning": "Acknowledged: product checked and safe",
        "comment": "door was ajar; closed; product at -78 C",
        "action": action,
        "signed_at": datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC),
        "credentials": "user_id_and_password",
        "session_id": "s1",
    }
    base.update(kw)
    return Signature(**base)


async def test_a_signed_acknowledgement_commits_with_its_signature(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    [view] = h.engine.signed(KEY, "dana", signature())
    assert view.state is AlarmState.ACKED and view.acked_by == "dana"
    assert view.ack_comment == "door was ajar; closed; product at -78 C"
    [row] = [r for r in h.store.alarm_records(key=KEY) if r.action == "acknowledged"]
    assert row.data["signature"] == signature().to_json() and row.via == "web"
    [stored] = h.store.signatures()
    assert (stored.record_seq, stored.signature) == (row.seq, signature())
    [audited] = h.store.audit_entries(AuditQuery(action="alarm.acknowledged"))
    assert (audited.person, audited.user_id, audited.method) == ("dana", "dreyes", "web")
    result = h.store.verify()
    assert result.ok and result.signatures == 1


async def test_each_signed_command_signs_each_row_it_writes(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(latching=True))
    await h.push("box.t", 11.0, 0)
    h.engine.signed(KEY, "dana", signature("shelve"), until=timedelta(hours=1))
    h.engine.unshelve(KEY, "dana", "back")  # not signed: no signature row
    h.engine.signed(KEY, "dana", signature())
    await h.push("box.t", 5.0, 120)
    h.engine.signed(KEY, "dana", signature("reset"))
    # the equipment out of service: one row per alarm it has, each signed
    h.engine.signed("box", "dana", signature("out_of_service"), until=timedelta(hours=2))
    h.engine.signed("box", "dana", signature("return_to_service"))
    signed = [(s.signature.action, s.record_seq) for s in h.store.signatures()]
    rows = {r.seq: r for r in h.store.alarm_records()}
    assert [a for a, _ in signed] == [
        "shelve", "acknowledge", "reset", "out_of_service", "out_of_service",
        "return_to_service", "return_to_service",
    ]  # fmt: skip
    assert all("signature" in rows[seq].data for _, seq in signed)
    assert sum("signature" in r.data for r in rows.values()) == len(signed)
    assert h.store.verify().ok


async def test_a_signed_shelve_needs_its_end_and_a_refused_command_signs_nothing(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    with pytest.raises(AlarmCommandError, match="needs an end time"):
        h.engine.signed(KEY, "dana", signature("shelve"))
    with pytest.raises(AlarmCommandError):
        h.engine.signed("A0000", "dana", signature())
    with pytest.raises(AlarmCommandError):  # nothing latched to reset
        h.engine.signed(KEY, "dana", signature("reset"))
    assert h.store.signatures() == [] and h.state(KEY) is AlarmState.UNACK


async def test_when_the_signature_cannot_be_written_the_command_is_undone(
    engine_factory: Factory, tmp_path: Path
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    before = len(h.store.alarm_records())
    raw = sqlite3.connect(str(tmp_path / "cw.db"), isolation_level=None)
    raw.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON signatures "
        "BEGIN SELECT RAISE(ABORT, 'no room'); END"
    )
    with pytest.raises(StoreError, match="no room"):
        h.engine.signed(KEY, "dana", signature())
    assert h.state(KEY) is AlarmState.UNACK  # undone: nothing took effect without its record
    assert len(h.store.alarm_records()) == before and h.store.signatures() == []
    raw.execute("DROP TRIGGER refuse")
    raw.close()
    h.engine.signed(KEY, "dana", signature())
    assert h.state(KEY) is AlarmState.ACKED and len(h.store.signatures()) == 1


async def _engine_with_fallback(
    tmp_path: Path, clock: FakeClock, journal: FallbackJournal
) -> tuple[Harness, SQLiteStore, sqlite3.Connection]:
    store = SQLiteStore(tmp_path / "cw.db", now=clock.now)
    store.open()
    engine = AlarmEngine(make_config(tmp_path, **cfg()), store, clock, person="t", fallback=journal)
    await engine.start()
    await clock.settle()
    raw = sqlite3.connect(str(tmp_path / "cw.db"), isolation_level=None)
    return Harness(engine, clock, store), store, raw


async def test_on_a_full_disk_the_signed_row_waits_with_its_signature(
    tmp_path: Path, clock: FakeClock
) -> None:
    journal = FallbackJournal(tmp_path / "fallback.journal")
    h, store, raw = await _engine_with_fallback(tmp_path, clock, journal)
    try:
        await h.push("box.t", 11.0, 0)
        raw.execute(
            "CREATE TRIGGER full BEFORE INSERT ON alarm_history "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        [view] = h.engine.signed(KEY, "dana", signature())
        assert view.state is AlarmState.ACKED  # fail-open: the escalation stops
        assert store.signatures() == [] and len(journal) == 1
        [waiting] = journal.pending()
        assert waiting.data["data"]["signature"] == signature().to_json()
        raw.execute("DROP TRIGGER full")
        assert journal.replay() == 1
        [stored] = store.signatures()
        row = next(r for r in store.alarm_records() if r.seq == stored.record_seq)
        assert row.action == "acknowledged" and "recorded_late_at" in row.data
        assert stored.signature == signature() and store.verify().ok
    finally:
        raw.close()
        await h.engine.stop()
        store.close()


async def test_a_signed_command_is_refused_when_the_fallback_journal_is_full(
    tmp_path: Path, clock: FakeClock
) -> None:
    journal = FallbackJournal(None, max_entries=1)
    h, store, raw = await _engine_with_fallback(tmp_path, clock, journal)
    try:
        await h.push("box.t", 11.0, 0)
        raw.execute(
            "CREATE TRIGGER full BEFORE INSERT ON alarm_history "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        assert journal.append("notification_log", clock.now(), {"page": 1})  # now it is full
        with pytest.raises(StoreError, match="fallback journal is full"):
            h.engine.signed(KEY, "dana", signature())
        assert h.state(KEY) is AlarmState.UNACK  # refused, not applied with its record lost
        view = h.engine.acknowledge(KEY, "dana", "by SMS then", via="sms")
        assert view.state is AlarmState.ACKED  # an unsigned path still stops the escalation
    finally:
        raw.close()
        await h.engine.stop()
        store.close()
