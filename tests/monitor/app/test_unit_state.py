"""Each unit's state, worst first: an alarm, a fault (bad quality or a device down), a stale
value, no data, normal; a value that is not current is never shown as one."""

from __future__ import annotations

from alarms.model import AlarmState, Priority
from monitor.app.unit_state import UnitState, build_tiles
from monitor.core.model import Quality
from monitor.runtime.live import LiveValues
from tests.support.dashboard import alarm, at, bad, good, small_site


def tiles_by_id(live: LiveValues, now_s: float, alarms=(), down=()):  # type: ignore[no-untyped-def]
    locations = build_tiles(small_site(), live.snapshot(), list(alarms), down, at(now_s))
    return {t.id: t for loc in locations for t in loc.units}


def test_grouped_by_location_in_the_configurations_order() -> None:
    locations = build_tiles(small_site(), LiveValues(small_site()).snapshot(), [], [], at(0))
    assert [(loc.name, [u.id for u in loc.units]) for loc in locations] == [
        ("Room A", ["freezer-1", "freezer-2"]),
        ("room-b", ["dewar-1"]),
    ]


def test_values_with_their_decimals_stale_and_bad_never_as_current() -> None:
    live = LiveValues(small_site())
    live.on_reading(good("freezer-1.cabinet", at(0), -80.0))
    live.on_reading(good("freezer-2.cabinet", at(0), -79.5))
    live.on_reading(bad("dewar-1.vapour", at(0), Quality.SENSOR_FAULT))
    tiles = tiles_by_id(live, 5)
    cab = tiles["freezer-1"].channels[0]
    assert (cab.value, cab.quality, cab.current, cab.age_seconds) == ("-80.0", "good", True, 5.0)
    assert tiles["freezer-2"].channels[0].value == "-79.50"
    assert tiles["freezer-1"].state is UnitState.NORMAL
    vapour = tiles["dewar-1"].channels[0]
    assert (vapour.value, vapour.quality) == ("", "sensor_fault")
    assert tiles["dewar-1"].state is UnitState.FAULT
    # plc polls every 10 s: three intervals without a reading and the value is stale
    tiles = tiles_by_id(live, 31)
    stale = tiles["freezer-1"].channels[0]
    assert (stale.value, stale.quality, stale.current) == ("-80.0", "stale", False)
    assert tiles["freezer-1"].state is UnitState.STALE


def test_no_reading_yet_is_no_data() -> None:
    tiles = tiles_by_id(LiveValues(small_site()), 0)
    assert {t.state for t in tiles.values()} == {UnitState.NO_DATA}
    assert tiles["dewar-1"].channels[0].quality == "none"


def test_the_worst_alarm_of_the_unit_and_its_marks() -> None:
    live = LiveValues(small_site())
    for cid in ("freezer-1.cabinet", "freezer-2.cabinet", "dewar-1.vapour"):
        live.on_reading(good(cid, at(0), -80.0))
    alarms = [
        alarm("freezer-1", AlarmState.ACKED, Priority.LOW, code="A1"),
        alarm("freezer-1", AlarmState.UNACK, Priority.CRITICAL, code="A2", key="k2"),
        alarm("freezer-2", AlarmState.SHELVED, Priority.CRITICAL, code="A3"),
        alarm("dewar-1", AlarmState.OUT_OF_SERVICE, code="A4"),
    ]
    tiles = tiles_by_id(live, 1, alarms)
    f1 = tiles["freezer-1"]
    assert f1.state is UnitState.ALARM and f1.active_alarms == 2
    assert f1.alarm is not None
    assert (f1.alarm.code, f1.alarm.priority, f1.alarm.needs_ack) == ("A2", Priority.CRITICAL, True)
    f2 = tiles["freezer-2"]  # shelved: marked, not in alarm
    assert f2.state is UnitState.NORMAL and f2.shelved and f2.alarm is None
    assert tiles["dewar-1"].out_of_service and tiles["dewar-1"].state is UnitState.NORMAL


def test_a_device_down_faults_every_unit_it_serves_and_its_comm_alarm_reaches_them() -> None:
    live = LiveValues(small_site())
    for cid in ("freezer-1.cabinet", "freezer-2.cabinet", "dewar-1.vapour"):
        live.on_reading(good(cid, at(0), -80.0))
    tiles = tiles_by_id(live, 1, down=["plc"])
    assert tiles["freezer-1"].state is UnitState.FAULT
    assert tiles["freezer-1"].devices_down == ("plc",)
    assert tiles["dewar-1"].state is UnitState.NORMAL
    comm = alarm(None, source="plc", key="plc/comm_loss")
    tiles = tiles_by_id(live, 1, [comm])
    assert tiles["freezer-1"].state is UnitState.ALARM
    assert tiles["freezer-2"].state is UnitState.ALARM
    assert tiles["dewar-1"].state is UnitState.NORMAL
