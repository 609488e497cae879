"""Escalation survives a restart: the escalator is dropped mid-escalation without being
stopped (as by a crash or a kill) and rebuilt on the same clock, record and notification log.
The next tier is paged on time, nothing already paged is paged again, what happened meanwhile
(an acknowledgement) is replayed from the engine, and the page in flight is finished once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alarms.escalation.state import EscalationLog, MemoryEscalationLog
from alarms.model import AlarmState, AnnouncementKind
from alarms.notify.notification_log import MemoryLog, NotificationLog
from alarms.records.escalation_record import SQLiteEscalationLog
from alarms.records.notification_log import SQLiteLog
from monitor.core.clock import FakeClock
from tests.support.escalation import FakeSource, Rig, view

S = AlarmState
K = AnnouncementKind


class Storage:
    """Durable state across "restarts": the same objects (memory) or new connections to the
    same file (SQLite), as a restarted daemon would open them."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self.opened: list[Any] = []
        self._record = MemoryEscalationLog()
        self._log = MemoryLog()

    def record(self) -> EscalationLog:
        if self.kind == "memory":
            return self._record
        opened = SQLiteEscalationLog(self.path)
        self.opened.append(opened)
        return opened

    def log(self) -> NotificationLog:
        if self.kind == "memory":
            return self._log
        opened = SQLiteLog(self.path)
        self.opened.append(opened)
        return opened


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    store = Storage(request.param, tmp_path / "cw.db")
    yield store
    for opened in store.opened:
        opened.close()


def rig_on(clock: FakeClock, storage: Storage, before: Rig | None = None, **kw: Any) -> Rig:
    if before is not None:
        kw.setdefault("notifiers", before.notifiers)
        kw.setdefault("t0", before.t0)
        kw.setdefault("source", before.source)
    return Rig(clock, record=storage.record(), log=storage.log(), **kw)


async def test_next_tier_on_time_and_tier_1_not_paged_again(
    clock: FakeClock, storage: Storage
) -> None:
    first = await rig_on(clock, storage).start()
    first.source.raise_()
    await first.at(5)
    first.crash()
    second = await rig_on(clock, storage, first).start()
    await second.at(14.9)
    assert second.briefs() == [(0, "alice", "raised", 1)]
    await second.at(30)
    assert second.briefs() == [
        (0, "alice", "raised", 1),
        (15, "sam", "escalated", 2),
        (30, "quinn", "escalated", 3),
        (30, "rita", "escalated", 3),
    ]
    await second.stop()


async def test_restart_after_the_due_time_pages_the_next_tier_at_once(
    clock: FakeClock, storage: Storage
) -> None:
    first = await rig_on(clock, storage).start()
    first.source.raise_()
    await first.at(10)
    first.crash()
    await clock.advance(10 * 60)  # down from minute 10 to 20
    second = await rig_on(clock, storage, first).start()
    await second.at(35)
    assert second.briefs() == [
        (0, "alice", "raised", 1),
        (20, "sam", "escalated", 2),
        (35, "quinn", "escalated", 3),
        (35, "rita", "escalated", 3),
    ]
    await second.stop()


async def test_an_acknowledgement_while_down_is_replayed(
    clock: FakeClock, storage: Storage
) -> None:
    first = await rig_on(clock, storage).start()
    first.source.raise_()
    await first.at(5)
    first.crash()
    await first.at(8)
    first.source.ack(person="alice")  # nobody listens: the engine recorded it
    second = await rig_on(clock, storage, first).start()
    await second.at(60)
    assert second.briefs() == [(0, "alice", "raised", 1)]
    assert second.escalator.track("A1007").status == "acked"  # type: ignore[union-attr]
    await second.stop()


async def test_the_page_in_flight_is_finished_once(clock: FakeClock, storage: Storage) -> None:
    first = rig_on(clock, storage)
    first.notifiers["sms"].script = ["hang"]  # Sam's tier-2 SMS never returns
    await first.start()
    first.source.raise_()
    await first.at(15.1)
    assert [b for b in first.briefs() if b[1] == "sam"] == [(15, "sam", "escalated", 2)]
    first.crash()
    second = await rig_on(clock, storage, first).start()
    await second.at(30)
    sam = [p for p in second.pages() if p.person == "sam"]
    assert [(p.minute, p.kind, p.notification.possible_duplicate) for p in sam] == [
        (15, "escalated", False),
        (15.1, "escalated", True),  # sent once more, marked: the first may have gone
    ]
    assert [b for b in second.briefs() if b[1] == "alice"] == [(0, "alice", "raised", 1)]
    assert (30, "quinn", "escalated", 3) in second.briefs()
    await second.stop()


async def test_a_page_acknowledged_while_down_is_not_recovered(
    clock: FakeClock, storage: Storage
) -> None:
    first = rig_on(clock, storage)
    first.notifiers["sms"].script = ["hang"]
    await first.start()
    first.source.raise_()
    await first.at(15.1)
    first.crash()
    first.source.ack(person="alice")
    second = await rig_on(clock, storage, first).start()
    await second.at(60)
    assert [b[1] for b in second.briefs()] == ["alice", "sam"]  # no resend to Sam
    await second.stop()


async def test_first_start_pages_alarms_open_and_unacknowledged(clock: FakeClock) -> None:
    source = FakeSource(clock)
    raised = clock.now() - timedelta(hours=1)
    source.views["A1007"] = view(raised_at=raised)  # open before escalation existed
    source.views["A1015"] = view("A1015", S.ACKED, key="freezer-08.cabinet_temp/warm")
    rig = await Rig(clock, source).start()
    await rig.at(15)
    pages = rig.pages(("raised", "escalated"))
    assert [p.brief for p in pages] == [(0, "alice", "raised", 1), (15, "sam", "escalated", 2)]
    assert pages[0].notification.late
    await rig.stop()


async def test_a_track_whose_alarm_was_dealt_with_meanwhile_is_closed(
    clock: FakeClock, storage: Storage
) -> None:
    first = await rig_on(clock, storage).start()
    first.source.raise_()
    await first.at(5)
    first.crash()
    # the engine's record of the acknowledgement is lost to the escalator (say, it started
    # from an older record): the check against the open alarms ends the track anyway
    first.source.views.pop("A1007")
    first.source.log.clear()
    second = await rig_on(clock, storage, first).start()
    await second.at(60)
    assert second.briefs() == [(0, "alice", "raised", 1)]
    assert second.escalator.track("A1007") is None
    await second.stop()


async def test_what_changed_while_down_without_a_record_is_found_at_start(
    clock: FakeClock, storage: Storage
) -> None:
    first = await rig_on(clock, storage).start()
    first.source.raise_()
    first.source.raise_("A1015", key="freezer-08.cabinet_temp/warm")
    await first.at(20)
    first.source.rtn()  # A1007 pauses at tier 2
    first.source.ack("A1015", person="bob")
    await first.at(21)
    first.crash()
    first.source.recur()  # both change while down, and the engine's rows are lost to us
    first.source.realarm("A1015")
    first.source.log.clear()
    second = await rig_on(clock, storage, first).start()
    await second.at(22)
    late = [(p.code, p.person, p.kind, p.tier) for p in second.pages() if p.minute == 21]
    assert sorted(late) == [
        ("A1007", "quinn", "escalated", 3),  # carries on: the next tier
        ("A1007", "rita", "escalated", 3),
        ("A1015", "alice", "re-alarm", 1),  # acknowledged before: tier 1 again
    ]
    await second.stop()


async def test_pages_held_for_a_flood_bundle_go_out_after_a_restart(
    clock: FakeClock, storage: Storage
) -> None:
    first = await rig_on(clock, storage).start()
    first.source.emit(K.FLOOD_STARTED)
    first.source.raise_()
    first.source.raise_("A1015", key="freezer-08.cabinet_temp/warm")
    await first.at(0.2)  # inside the 30 s window: nothing sent yet
    assert first.pages() == []
    first.crash()
    second = await rig_on(clock, storage, first).start()
    await second.at(0.25)
    assert sorted(p.code for p in second.pages() if p.person == "alice") == ["A1007", "A1015"]
    await second.stop()
