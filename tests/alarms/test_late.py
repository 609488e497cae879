"""Late data: excursions in readings that arrive out of order are evaluated in timestamp order
and announced as late, never recorded silently."""

from __future__ import annotations

from alarms.model import AlarmState
from monitor.core.model import FLAG_LATE
from tests.support.alarm_engine import KEY, Factory, at, cfg

S = AlarmState


async def test_an_excursion_in_late_data_is_announced_as_late(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="1m"))
    for t in range(0, 610, 10):
        await h.push("box.t", 9.0, t)
    for t in range(300, 90, -10):  # a logger's backlog, newest first
        await h.push("box.t", 12.0 if t < 300 else 9.0, t)
    await h.to(605)  # 5 s without more late data: the burst is evaluated
    (announcement,) = h.announced
    assert announcement.kind.value == "late-found" and announcement.late
    assert announcement.at == at(160)  # 12.0 from t=100, for the whole minute
    alarm = announcement.alarm
    assert alarm is not None and alarm.state is S.RTN_UNACK and alarm.code is not None
    assert alarm.late and "found in late data" in alarm.message
    assert announcement.detail is not None
    assert announcement.detail["since"] == at(100).isoformat()
    rows = h.store.alarm_records(key=KEY)
    assert [r.action for r in rows] == ["late_found", "late_ended"]
    assert rows[1].data["detail"]["end"] == at(300).isoformat()
    assert rows[1].data["detail"]["max"] == 12.0
    # the live state is what the live data says; the late one waits for an acknowledgement
    assert not h.view(KEY).active
    h.engine.acknowledge(alarm.code, "ana", "logger backlog reviewed, product not affected")
    assert h.state(KEY) is S.NORMAL


async def test_late_data_without_an_excursion_says_nothing(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 9.0, 100)
    await h.push("box.t", 9.5, 50)
    await h.to(101)
    assert h.announced == [] and h.store.alarm_records(key=KEY) == []


async def test_an_in_order_reading_flagged_late_marks_what_it_causes(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 12.0, 100, flags=FLAG_LATE)
    await h.to(101)
    (announcement,) = h.announced
    assert announcement.kind.value == "raised" and announcement.late
    assert h.view(KEY).late


async def test_late_data_while_the_alarm_is_open_reports_on_the_same_code(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 12.0, 500)
    code = h.view(KEY).code
    await h.push("box.t", 14.0, 200)  # an earlier excursion, found later
    await h.to(504)
    assert h.kinds(KEY) == ["raised"]  # the burst may not be over yet
    await h.to(505)
    assert h.kinds(KEY) == ["raised", "late-found"]
    assert h.announced[-1].alarm is not None and h.announced[-1].alarm.code == code
    assert h.state(KEY) is S.UNACK


# --- a replay's delays: the readings' own timestamps are its clock --------------------------

JITTER = 0.00035


async def test_a_late_burst_finds_an_on_delay_at_its_end_not_at_the_next_reading(
    engine_factory: Factory,
) -> None:
    """1 s readings stamped a fraction of a millisecond early, replayed: the excursion starts
    at t0 + 10 s, as the engine's clock would have raised it had they come in live."""
    h = await engine_factory(**cfg(on_delay="10s"))
    await h.push("box.t", 9.0, 100)
    for t in range(30, -1, -1):  # a backlog, newest first
        await h.push("box.t", 11.0 if t < 20 else 9.0, t - JITTER if t else 0)
    await h.to(106)
    found = [a for a in h.announced if a.kind.value == "late-found"]
    assert len(found) == 1 and found[0].at == at(10)
    rows = h.store.alarm_records(key=KEY)
    assert [r.action for r in rows] == ["late_found", "late_ended"]
    assert rows[1].data["detail"]["end"] == at(20 - JITTER).isoformat()


async def test_a_late_burst_shorter_than_the_delay_finds_nothing(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="2m"))
    await h.push("box.t", 9.0, 1000)
    await h.push("box.t", 11.0, 0)  # one reading past the limit, then one inside
    await h.push("box.t", 9.0, 60)
    await h.to(1010)
    assert h.announced == [] and h.store.alarm_records(key=KEY) == []


async def test_a_late_burst_finds_a_door_left_open(engine_factory: Factory) -> None:
    """A door reports only its changes: open at 0, closed at 400 (a 5 min delay). The replay
    reaches the delay's end before the close, so the opening is found."""
    h = await engine_factory()  # the ULT template: door open 5 min
    key = "fr.door/door_open"
    await h.push("fr.door", 0.0, 1000)
    await h.push("fr.door", 0.0, 400)
    await h.push("fr.door", 1.0, 0)
    await h.to(1010)
    found = [a for a in h.announced if a.kind.value == "late-found"]
    assert len(found) == 1 and found[0].at == at(300)
    rows = h.store.alarm_records(key=key)
    assert [r.action for r in rows] == ["late_found", "late_ended"]
    assert rows[1].data["detail"]["end"] == at(400).isoformat()
