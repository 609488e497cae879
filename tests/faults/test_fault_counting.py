"""The fault suite's counting, on records made by the real store: a loss is seen as a loss.

A fault that reports 0 lost is only worth something if the counting finds what is missing:
a hole between rows, a poll the device answered with no row for it, a page the escalator
decided that never reached the outbox; and does not count what the record accounts for (a
gap a restart named, a page withdrawn by an acknowledgement).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alarms.escalation.state import EscalationRow
from alarms.records.escalation_record import SQLiteEscalationLog
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.store.sqlite import SQLiteStore
from tests.faults.fault_counts import (
    Row,
    channel_rows,
    count_pages,
    count_readings,
    named_gaps,
    stored_numbers,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHANNEL = "freezer.cabinet_temp"


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def rows(*seconds: float) -> list[Row]:
    return [Row(at(s), "good", -80.0) for s in seconds]


def test_every_poll_stored_is_no_loss() -> None:
    # rows stamped when the poll began, answers a little later, one poll 0.9 s late
    count = count_readings([at(s + 0.01) for s in (0, 1, 2.9, 3, 4)], rows(0, 1, 2.9, 3, 4), 1, [])
    assert (count.polls, count.lost, count.uncommitted) == (5, 0, 0)


def test_a_hole_between_rows_is_lost_even_without_a_poll() -> None:
    count = count_readings([], rows(0, 1, 4, 5), 1, [])
    assert count.lost == 2


def test_an_answered_poll_without_its_row_is_lost() -> None:
    count = count_readings([at(s + 0.01) for s in range(5)], rows(0, 1, 3, 4), 1, [])
    assert count.lost == 1
    # the same hole found both ways is counted once
    assert count_readings([at(2.01)], rows(0, 1, 4), 1, []).lost == 2


def test_a_named_gap_accounts_for_its_slots_and_its_uncommitted_polls() -> None:
    gap = [(at(1), at(6))]  # last row at 1 s, the restart at 6 s
    count = count_readings([at(0.01), at(1.01), at(2.01)], rows(0, 1, 6, 7), 1, gap)
    assert (count.lost, count.uncommitted) == (0, 1)


def test_gaps_and_rows_from_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "cw.db")
    store.open()
    try:
        store.append(
            [
                Reading(CHANNEL, T0, -80.0, Quality.GOOD, 0),
                Reading(CHANNEL, T0 + timedelta(seconds=1), -80.0, Quality.GOOD, 0),
                Reading(CHANNEL, T0 + timedelta(seconds=5), None, Quality.STALE, 0, "gap"),
                Reading("flood.counter", T0, 7.0, Quality.GOOD, 0),
                Reading("flood.counter", T0, 7.0, Quality.GOOD, 0),
                Reading("flood.counter", T0, None, Quality.COMM_ERROR, 0, "bad"),
            ],
            [
                Event(
                    T0 + timedelta(seconds=5),
                    EventKind.UNCLEAN_RESTART,
                    "coldwatch",
                    "restarted",
                    {"channels": {CHANNEL: (T0 + timedelta(seconds=1)).isoformat()}},
                )
            ],
        )
    finally:
        store.close()
    db = tmp_path / "cw.db"
    assert named_gaps(db) == {CHANNEL: [(at(1), at(5))]}
    stored = channel_rows(db, CHANNEL)
    assert [r.quality for r in stored] == ["good", "good", "stale"]
    assert count_readings([], stored, 1, named_gaps(db)[CHANNEL]).lost == 0
    assert count_readings([], stored, 1, []).lost == 3
    assert stored_numbers(db, "flood.counter") == {7: 2}


def paged(track: str, page: int, people: list[str]) -> EscalationRow:
    data: dict[str, Any] = {"last_key": f"esc/{track}/p{page}", "last_people": people}
    return EscalationRow("paged", T0, track, "A1", "k", False, data)


def line(key: str, person: str) -> str:
    return json.dumps({"to": {"id": person}, "notification": {"event_id": key}}) + "\n"


@pytest.fixture
def record(tmp_path: Path) -> SQLiteEscalationLog:
    store = SQLiteStore(tmp_path / "cw.db")
    store.open()
    store.close()
    return SQLiteEscalationLog(tmp_path / "cw.db")


def test_pages_decided_against_the_outbox(tmp_path: Path, record: SQLiteEscalationLog) -> None:
    for row in (
        paged("h1", 1, ["alice"]),
        paged("h1", 2, ["bob", "carol"]),
        paged("h1", 3, ["carol"]),  # never arrived: lost
        paged("h2", 1, ["dave"]),  # never arrived, then acknowledged: withdrawn
        EscalationRow("acknowledged", T0, "h2", "A2", "k2", False, {}),
    ):
        record.append(row)
    record.close()
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_text(
        line("esc/h1/p1", "alice")
        + line("esc/h1/p2", "bob")
        + line("esc/h1/p2", "bob")  # sent again after a crash: a duplicate
        + line("esc/h1/p2", "carol")
        + '{"to": {"id": "carol"}, "notif'  # a line cut short does not count
    )
    pages = count_pages(tmp_path / "cw.db", outbox)
    assert (pages.decided, pages.lost, pages.duplicated, pages.withdrawn) == (5, 1, 1, 1)


def test_a_bundle_delivers_its_members(tmp_path: Path, record: SQLiteEscalationLog) -> None:
    record.append(paged("h1", 1, ["alice"]))
    record.append(paged("h2", 1, ["alice"]))
    bundle = {"key": "esc/bundle/alice/1", "person": "alice", "members": [["h1", 1], ["h2", 1]]}
    record.append(EscalationRow("bundled", T0, None, "A1", None, False, bundle))
    record.close()
    outbox = tmp_path / "outbox.jsonl"
    outbox.write_text(line("esc/bundle/alice/1", "alice"))
    pages = count_pages(tmp_path / "cw.db", outbox)
    assert (pages.decided, pages.lost, pages.duplicated) == (2, 0, 0)
