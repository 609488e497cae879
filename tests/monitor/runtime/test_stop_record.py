"""The record of a stop: what it says, and what survives a round trip through an event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.runtime.stop_record import StopRecord

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_planned_stop_names_the_person_the_os_user_and_the_reason() -> None:
    record = StopRecord("stop", AT, person="alice", os_user="asmith", reason="defrost")
    assert record.planned and record.stopped_by == "alice"
    assert record.describe() == "stop asked by alice (OS user asmith): defrost"
    same_name = StopRecord("restart", AT, person="alice", os_user="alice", reason="config")
    assert same_name.describe() == "restart asked by alice: config"


def test_a_signal_has_no_person_and_an_unknown_sender() -> None:
    record = StopRecord("signal", AT, signal="SIGINT")
    assert not record.planned and record.stopped_by == "sender unknown"
    assert record.describe() == "SIGINT, sender unknown"


def test_round_trip_through_an_event() -> None:
    record = StopRecord("restart", AT, person="bob", os_user="uid 1002", reason="upgrade")
    assert StopRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    "data",
    [None, "stop", {}, {"command": "halt", "at": AT.isoformat()}, {"command": "stop", "at": "x"}],
)
def test_an_unreadable_record_is_none(data: object) -> None:
    assert StopRecord.from_json(data) is None
