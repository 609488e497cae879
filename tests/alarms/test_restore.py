"""After a crash the engine resumes exactly where it was: states, timers, codes; nothing that
was announced is announced again, and the notification layer can read back what was."""

from __future__ import annotations

from typing import Any

import pytest

from alarms.model import AlarmCommandError, AlarmState
from monitor.store.base import StoreError
from tests.support.alarm_engine import KEY, Factory, at, cfg

S = AlarmState


async def test_an_on_delay_resumes_from_its_start(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg(on_delay="5m"))
    await h.push("box.t", 11.0, 0)
    await h.to(2)  # the timer checkpoint is written within a second
    h2 = await engine_factory(restart=True, **cfg(on_delay="5m"))
    await h2.push("box.t", 11.0, 299)
    assert h2.state(KEY) is S.NORMAL
    await h2.push("box.t", 11.0, 300)
    view = h2.view(KEY)
    assert view.state is S.UNACK and view.since == at(0)


async def test_nothing_is_announced_twice(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    h.engine.acknowledge(h.view(KEY).code or "", "ana", "on my way")
    await h.to(1)
    live = [(a.event_id, a.kind.value) for a in h.announced]
    assert live == [("h2", "raised"), ("h3", "acknowledged")]  # h1: the configuration row
    h2 = await engine_factory(restart=True, **cfg())
    await h2.to(10)
    assert h2.announced == []
    assert h2.state(KEY) is S.ACKED and h2.view(KEY).acked_by == "ana"
    replay = [(a.event_id, a.kind.value) for a in h2.engine.announcements()]
    assert replay == live
    assert h2.engine.announcements(after_seq=2)[0].event_id == "h3"


async def test_realarm_due_survives_a_restart(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    await h.to(100)
    h.engine.acknowledge(h.view(KEY).code or "", "ana", "seen")
    await h.to(200)
    h2 = await engine_factory(restart=True, **cfg())
    await h2.to(3699)
    assert h2.state(KEY) is S.ACKED
    await h2.to(3700)
    assert h2.state(KEY) is S.UNACK and h2.kinds(KEY) == ["re-alarm"]


async def test_codes_are_never_reused(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    first = h.view(KEY).code
    await h.push("box.t", 9.0, 10)
    h.engine.acknowledge(first or "", "ana", "fine")
    await h.to(11)
    h2 = await engine_factory(restart=True, **cfg())
    await h2.push("box.t", 11.0, 20)
    second = h2.view(KEY).code
    assert first and second and first != second
    assert int(second[1:-1]) == int(first[1:-1]) + 1


async def test_a_door_timer_completes_after_a_restart(engine_factory: Factory) -> None:
    h = await engine_factory()
    await h.push("fr.door", 1.0, 0)
    await h.to(100)
    h2 = await engine_factory(restart=True)
    await h2.to(299)
    assert h2.state("fr.door/door_open") is S.NORMAL
    await h2.to(300)
    assert h2.state("fr.door/door_open") is S.UNACK


async def test_a_removed_rule_is_retired_on_the_record(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    code = h.view(KEY).code
    await h.to(1)
    h2 = await engine_factory(restart=True, **cfg(enabled=False))
    await h2.to(2)
    assert h2.kinds() == ["retired"]
    retired = h2.announced[0]
    assert retired.alarm is not None and retired.alarm.code == code
    config_rows = h2.store.alarm_records(key="coldwatch/config")
    assert len(config_rows) == 2 and config_rows[-1].data["removed"] == [KEY]


async def test_reload_keeps_states_and_records_who(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    from tests.support.alarm_engine import make_config

    tmp = h.store.path.parent / "reload"
    tmp.mkdir()
    h.engine.reload(make_config(tmp, **cfg(high=20)), "qa-lead", via="cli")
    assert h.state(KEY) is S.UNACK  # same alarm, still to be acknowledged
    await h.push("box.t", 15.0, 10)  # inside the new limit
    assert h.state(KEY) is S.RTN_UNACK
    row = h.store.alarm_records(key="coldwatch/config")[-1]
    assert (row.action, row.person, row.via) == ("config_loaded", "qa-lead", "cli")


async def test_announcements_go_out_while_the_store_refuses_them(
    engine_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await engine_factory(**cfg())
    real = h.store.append_alarm_records
    failing = True

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failing:
            raise StoreError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(h.store, "append_alarm_records", flaky)
    await h.push("box.t", 11.0, 0)
    (page,) = h.announced
    assert page.kind.value == "raised" and not page.recorded and page.seq is None
    with pytest.raises(StoreError):  # a command is never taken without its record
        h.engine.acknowledge(h.view(KEY).code or "", "ana", "seen")
    assert h.state(KEY) is S.UNACK
    failing = False
    await h.to(3)  # retried
    assert len(h.announced) == 1  # recorded now, and not announced again
    assert [r.action for r in h.store.alarm_records(key=KEY)] == ["raised"]
    h.engine.acknowledge(h.view(KEY).code or "", "ana", "seen")
    assert h.state(KEY) is S.ACKED


async def test_an_old_code_never_acknowledges_a_new_occurrence(engine_factory: Factory) -> None:
    """A late SMS reply to last night's page must not acknowledge tonight's alarm, before or
    after a restart; the acknowledgement that closed the first occurrence still names it."""
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    old = h.view(KEY).code
    assert old is not None
    await h.push("box.t", 5.0, 60)
    h.engine.acknowledge(old, "ana", "door was open during restock")
    await h.to(61)
    closing = [a for a in h.announced if a.kind.value == "acknowledged"]
    assert [a.alarm.code for a in closing if a.alarm is not None] == [old]
    h2 = await engine_factory(restart=True, **cfg())
    await h2.push("box.t", 11.0, 120)
    new = h2.view(KEY).code
    assert new is not None and new != old
    with pytest.raises(AlarmCommandError, match="not open"):
        h2.engine.acknowledge(old, "bob", "replying to the old page")
    assert h2.state(KEY) is S.UNACK
