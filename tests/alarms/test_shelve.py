"""Shelving and out-of-service: bounded, attributable, recorded, never announced, fail-safe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from alarms.model import AlarmCommandError, AlarmState
from monitor.store.base import AlarmRecord
from tests.support.alarm_engine import KEY, Factory, at, cfg

S = AlarmState


async def test_a_shelve_is_bounded_and_needs_a_reason(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    with pytest.raises(AlarmCommandError, match="at most 8 h"):
        h.engine.shelve(KEY, "ana", "probe swap", timedelta(hours=9))
    with pytest.raises(AlarmCommandError, match="reason is required"):
        h.engine.shelve(KEY, "ana", "", timedelta(hours=1))
    with pytest.raises(AlarmCommandError, match="in the future"):
        h.engine.shelve(KEY, "ana", "probe swap", at(-10))
    with pytest.raises(AlarmCommandError, match="no alarm, equipment or device"):
        h.engine.shelve("nothing", "ana", "probe swap", timedelta(hours=1))
    assert h.store.alarm_records(key=KEY) == []


async def test_shelved_alarms_are_recorded_not_announced_and_return_at_the_end(
    engine_factory: Factory,
) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    await h.to(10)
    h.take()
    (view,) = h.engine.shelve(KEY, "ana", "probe being replaced", timedelta(hours=1), via="web")
    assert view.state is S.SHELVED and view.shelved_until == at(3610)
    await h.push("box.t", 9.0, 20)
    await h.push("box.t", 12.0, 30)  # changes while shelved: recorded only
    await h.to(3609)
    assert h.take() == [("silenced", KEY)]
    assert h.state(KEY) is S.SHELVED
    await h.to(3610)  # the shelve ends: UNACK by the current condition
    assert h.state(KEY) is S.UNACK
    assert h.take() == [("raised", KEY)]
    actions = [r.action for r in h.store.alarm_records(key=KEY)]
    assert actions == ["raised", "shelved", "cleared", "recurred", "shelve_expired"]
    shelved = h.store.alarm_records(key=KEY)[1]
    assert (shelved.person, shelved.via, shelved.comment) == ("ana", "web", "probe being replaced")


async def test_unshelve_with_the_condition_clear_goes_to_normal(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    h.engine.shelve(KEY, "ana", "known", timedelta(minutes=30))
    await h.push("box.t", 9.0, 60)
    (view,) = h.engine.unshelve(KEY, "ana", "done")
    assert view.state is S.NORMAL and view.code is None
    with pytest.raises(AlarmCommandError, match="nothing shelved"):
        h.engine.unshelve(KEY, "ana")


async def test_an_expired_shelve_ends_after_a_restart(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    h.engine.shelve(KEY, "ana", "known", timedelta(hours=1))
    await h.to(5)
    h2 = await engine_factory(restart=True, start=False, **cfg())
    await h.clock.jump(2 * 3600)  # coldwatch was down past the shelve's end
    await h2.engine.start()
    await h2.clock.settle()
    view = h2.view(KEY)
    assert view.state is S.UNACK and h2.kinds(KEY) == ["raised"]
    last = h2.store.alarm_records(key=KEY)[-1]
    assert last.action == "shelve_expired" and last.at == at(3600)


async def test_an_unknown_shelve_after_a_restart_is_unshelved(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    await h.push("box.t", 11.0, 0)
    h.engine.shelve(KEY, "ana", "known", timedelta(hours=1))
    await h.to(5)
    # a row whose shelve end cannot be read (written by a damaged or older version)
    last = h.store.alarm_records(key=KEY)[-1]
    alarm: dict[str, Any] = dict(last.data["alarm"])
    alarm["shelved_until"] = None
    h.store.append_alarm_records(
        [AlarmRecord(at(5), at(5), KEY, "shelved", "SHELVED", data={**last.data, "alarm": alarm})]
    )
    h2 = await engine_factory(restart=True, **cfg())
    assert h2.state(KEY) is S.UNACK
    assert h2.kinds(KEY) == ["raised"]
    last = h2.store.alarm_records(key=KEY)[-1]
    assert last.action == "shelve_expired" and "fail-safe" in (last.comment or "")


async def test_out_of_service_has_an_end_and_covers_a_whole_unit(engine_factory: Factory) -> None:
    h = await engine_factory()  # the ULT template on equipment fr
    with pytest.raises(AlarmCommandError, match="at most 168 h"):
        h.engine.set_out_of_service("fr", "ben", "defrost", timedelta(days=8))
    views = h.engine.set_out_of_service("fr", "ben", "defrost and cleaning", timedelta(hours=4))
    assert {v.key for v in views} >= {"fr.temp/warm", "fr.door/door_open", "dev/comm_loss"}
    assert all(v.state is S.OUT_OF_SERVICE for v in views)
    await h.push("fr.door", 1.0, 10)
    await h.push("fr.temp", -20.0, 20)
    await h.to(3600)
    assert h.kinds() == []  # the defrost pages nobody
    await h.to(4 * 3600)
    assert h.state("fr.door/door_open") is S.UNACK  # still open when maintenance ends
    assert h.kinds("fr.door/door_open") == ["raised"]


async def test_return_to_service_early(engine_factory: Factory) -> None:
    h = await engine_factory(**cfg())
    h.engine.set_out_of_service(KEY, "ben", "calibration", timedelta(hours=2))
    await h.push("box.t", 11.0, 10)
    (view,) = h.engine.return_to_service(KEY, "ben", "calibrated")
    assert view.state is S.UNACK
    await h.to(11)
    assert h.kinds(KEY) == ["raised"]
    with pytest.raises(AlarmCommandError, match="nothing out of service"):
        h.engine.return_to_service(KEY, "ben")
