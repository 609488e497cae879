"""Stale data, communication loss, sensor faults, doors, power, status codes, LN2 fills and the
checks of coldwatch itself."""

from __future__ import annotations

from typing import Any

from alarms.model import AlarmState, Priority
from monitor.core.model import EventKind, Quality
from tests.support.alarm_engine import Factory, at

S = AlarmState


def unit(kind: str, channels: list[tuple[str, str, str]], rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "alarms": {"equipment": {"u": {"rules": rules}}},
        "equipment": [
            {
                "id": "u",
                "kind": kind,
                "channels": [
                    {"id": cid, "quantity": q, "unit": un, "source": {"device": "dev"}}
                    for cid, q, un in channels
                ],
            }
        ],
    }


TEMP = ("t", "temperature", "C")


async def test_stale_when_no_good_reading_for_the_configured_time(engine_factory: Factory) -> None:
    h = await engine_factory(
        **unit("other", [TEMP], {"stale": {"condition": "stale", "channel": "t", "after": "10m"}})
    )
    key = "u.t/stale"
    await h.push("u.t", -80.0, 0)
    for t in range(60, 600, 60):  # bad readings do not count as data
        await h.push("u.t", None, t, Quality.COMM_ERROR)
    assert h.state(key) is S.NORMAL
    await h.to(600)
    view = h.view(key)
    assert view.state is S.UNACK and view.raised_at == at(600) and view.since == at(0)
    await h.push("u.t", -80.0, 700)
    assert h.state(key) is S.RTN_UNACK
    assert h.kinds(key) == ["raised", "returned-to-normal"]


async def test_stale_counts_from_the_start_without_any_reading(engine_factory: Factory) -> None:
    h = await engine_factory(
        **unit("other", [TEMP], {"stale": {"condition": "stale", "channel": "t", "after": "2m"}})
    )
    await h.to(119)
    assert h.state("u.t/stale") is S.NORMAL
    await h.to(120)
    assert h.state("u.t/stale") is S.UNACK


async def test_device_comm_loss_is_its_own_alarm(engine_factory: Factory) -> None:
    h = await engine_factory(alarms={"devices": {"ups": {"on_delay": "1m"}}})
    await h.device_down("dev", 10)
    view = h.view("dev/comm_loss")
    assert view.state is S.UNACK and view.priority is Priority.HIGH and view.equipment == "fr"
    await h.device_up("dev", 50)
    assert h.state("dev/comm_loss") is S.RTN_UNACK
    await h.device_down("ups", 100)  # an outage shorter than its on-delay raises nothing
    await h.device_up("ups", 150)
    await h.to(300)
    assert h.state("ups/comm_loss") is S.NORMAL
    await h.device_down("ups", 400)
    await h.to(459)
    assert h.state("ups/comm_loss") is S.NORMAL
    await h.to(460)
    assert h.view("ups/comm_loss").raised_at == at(460)


async def test_sensor_fault_and_out_of_range_are_alarms(engine_factory: Factory) -> None:
    h = await engine_factory(
        **unit("other", [TEMP], {"fault": {"condition": "quality", "channel": "t", "on_delay": 30}})
    )
    key = "u.t/fault"
    await h.push("u.t", None, 0, Quality.SENSOR_FAULT)
    await h.push("u.t", None, 10, Quality.COMM_ERROR)  # not a probe fault: changes nothing
    await h.push("u.t", None, 20, Quality.OUT_OF_RANGE)
    assert h.state(key) is S.NORMAL
    await h.to(30)  # the delay ends on the clock, the newest reading (20 s) still a fault
    view = h.view(key)
    assert view.state is S.UNACK and "out_of_range" in view.message
    assert view.raised_at == at(30)
    await h.push("u.t", -80.0, 40)
    assert h.state(key) is S.RTN_UNACK


async def test_door_open_longer_than_the_delay_even_if_the_device_says_nothing_more(
    engine_factory: Factory,
) -> None:
    h = await engine_factory()  # the ULT template: door open 5 min
    key = "fr.door/door_open"
    await h.push("fr.door", 1.0, 0)  # reported once, on change
    await h.to(299)
    assert h.state(key) is S.NORMAL
    await h.to(300)
    view = h.view(key)
    assert view.state is S.UNACK and view.raised_at == at(300)
    await h.push("fr.door", 0.0, 400)
    assert h.state(key) is S.RTN_UNACK


async def test_a_bad_reading_stops_the_door_timer_until_a_good_one(engine_factory: Factory) -> None:
    h = await engine_factory()
    key = "fr.door/door_open"
    await h.push("fr.door", 1.0, 0)
    await h.push("fr.door", None, 100, Quality.COMM_ERROR)
    await h.to(400)
    assert h.state(key) is S.NORMAL  # unknown since t=100: not completed on the clock
    await h.push("fr.door", 1.0, 410)
    assert h.view(key).raised_at == at(410)


async def test_a_door_closed_in_time_raises_nothing(engine_factory: Factory) -> None:
    h = await engine_factory()
    await h.push("fr.door", 1.0, 0)
    await h.push("fr.door", 0.0, 200)
    await h.to(1000)
    assert h.state("fr.door/door_open") is S.NORMAL and h.kinds("fr.door/door_open") == []


async def test_power_failure_is_immediate_and_critical(engine_factory: Factory) -> None:
    h = await engine_factory()
    await h.push("fr.power", 1.0, 5)
    view = h.view("fr.power/power_failure")
    assert view.state is S.UNACK and view.priority is Priority.CRITICAL
    assert view.raised_at == at(5)
    assert "Check the mains supply" in view.contingency


async def test_status_codes_by_bits_and_by_values(engine_factory: Factory) -> None:
    status = ("s", "status_code", "code")
    words = ("w", "text", "text")
    h = await engine_factory(
        **unit(
            "other",
            [status, words],
            {
                "bits": {"condition": "status", "channel": "s", "bits": [1, 4]},
                "words": {"condition": "status", "channel": "w", "values": ["PWRFAIL", 3]},
            },
        )
    )
    await h.push("u.s", 1.0, 0)  # bit 0: not an alarm bit
    assert h.state("u.s/bits") is S.NORMAL
    await h.push("u.s", 18.0, 10)  # bits 1 and 4
    view = h.view("u.s/bits")
    assert view.state is S.UNACK and view.message.endswith("status 18 (bit 1, 4 set)")
    await h.push("u.s", 0.0, 20)
    assert h.state("u.s/bits") is S.RTN_UNACK
    await h.push("u.w", "OVERTEMP", 30)
    assert h.state("u.w/words") is S.NORMAL
    await h.push("u.w", "PWRFAIL", 40)
    assert h.state("u.w/words") is S.UNACK


async def test_any_status_but_ok_from_the_template(engine_factory: Factory) -> None:
    h = await engine_factory()  # ULT template: status not 0 for a minute
    await h.push("fr.status", 4.0, 0)
    await h.push("fr.status", 4.0, 60)
    assert h.state("fr.status/status") is S.UNACK


async def test_ln2_level_limits_and_a_fill_that_runs_too_long(engine_factory: Factory) -> None:
    h = await engine_factory(
        **{
            "alarms": {
                "equipment": {"dw": {"rules": {"level": {"low": 300, "high": 700, "unit": "mm"}}}}
            },
            "equipment": [
                {
                    "id": "dw",
                    "kind": "ln2_dewar",
                    "channels": [
                        {
                            "id": "temp",
                            "quantity": "temperature",
                            "unit": "C",
                            "source": {"device": "dev"},
                        },
                        {
                            "id": "level",
                            "quantity": "ln2_level",
                            "unit": "mm",
                            "source": {"device": "dev"},
                        },
                        {
                            "id": "fill",
                            "quantity": "fill_valve_open",
                            "unit": "bool",
                            "source": {"device": "dev"},
                        },
                    ],
                }
            ],
        }
    )
    await h.push("dw.level", 280.0, 0)
    await h.push("dw.level", 280.0, 120)  # the template's 2 min on-delay
    assert h.view("dw.level/level").state is S.UNACK
    await h.push("dw.fill", 1.0, 200)
    await h.to(200 + 1799)
    assert h.state("dw.fill/fill_too_long") is S.NORMAL
    await h.to(200 + 1800)
    view = h.view("dw.fill/fill_too_long")
    assert view.state is S.UNACK and "supply" in view.contingency


async def test_checks_of_coldwatch_itself(engine_factory: Factory) -> None:
    h = await engine_factory()
    await h.event(EventKind.DISK_LOW, "coldwatch", 10)
    assert h.state("coldwatch/disk_low") is S.UNACK
    await h.event(EventKind.DISK_OK, "coldwatch", 20)
    assert h.state("coldwatch/disk_low") is S.RTN_UNACK
    await h.event(EventKind.CLOCK_STEP, "coldwatch", 30)  # a pulse: happened, needs an ack
    view = h.view("coldwatch/clock_step")
    assert view.state is S.RTN_UNACK and not view.active
    await h.event(EventKind.UNCLEAN_RESTART, "coldwatch", 40)
    assert h.state("coldwatch/monitoring_gap") is S.RTN_UNACK
    assert h.kinds("coldwatch/clock_step") == ["raised"]  # one page for one event


async def test_a_failing_rule_raises_the_engine_fault_alarm(engine_factory: Factory) -> None:
    h = await engine_factory()
    point = h.engine._life.points["fr.temp/warm"]

    def broken(reading: object, arrived: object = None) -> None:
        raise RuntimeError("bug")

    point.condition.on_reading = broken  # type: ignore[method-assign]
    for t in range(3):
        await h.push("fr.temp", -80.0, t)  # never raises into the pipeline
    view = h.view("coldwatch/engine_fault")
    assert view.state is S.LATCHED_UNACK and "fr.temp/warm: RuntimeError: bug" in view.message
    assert h.engine.faults == 3
    assert h.kinds("coldwatch/engine_fault") == ["raised"]
