"""The -80 C freezer behaves like one: cycling, door openings, loss of cooling, power failure."""

from __future__ import annotations

import itertools

import pytest

from simulators.models import UltFreezer, UltFreezerParams
from simulators.models.ult_freezer import DOOR_OPEN_BIT, POWER_FAIL_BIT

HOUR = 3600.0


def _cabinet(model: UltFreezer) -> float:
    value = model.values()["cabinet_temp"]
    assert isinstance(value, float)
    return value


def _hours_to_reach(model: UltFreezer, limit_c: float, within_h: float = 10.0) -> float:
    start = model.time_s
    while model.cabinet_c < limit_c:
        model.advance(10)
        assert model.time_s - start < within_h * HOUR, f"never reached {limit_c} C"
    return (model.time_s - start) / HOUR


def test_normal_operation_cycles_the_compressor_within_3_c_for_24_h() -> None:
    model = UltFreezer(seed=1)
    transitions = 0
    was_on = model.values()["compressor_on"]
    lowest = highest = _cabinet(model)
    for _ in range(86_400):
        model.advance(1)
        on = model.values()["compressor_on"]
        transitions += on != was_on
        was_on = on
        reading = _cabinet(model)
        lowest, highest = min(lowest, reading), max(highest, reading)
    assert lowest > -83.0
    assert highest < -77.0
    assert transitions > 100  # about 225: a cycle every ~13 min
    assert model.values()["system_status"] == 0


def test_loaded_freezer_without_compressor_reaches_minus_65_in_1_to_4_hours() -> None:
    model = UltFreezer(seed=1)
    model.advance(2 * HOUR)
    model.set_fault("compressor_failure")
    hours = _hours_to_reach(model, -65.0)
    assert 1.0 <= hours <= 4.0  # about 2.1 h
    assert model.values()["compressor_on"] == 1  # the controller calls, nothing cools
    assert model.status.state == "calling for cooling, none delivered"


def test_warming_is_first_order_toward_the_room() -> None:
    model = UltFreezer(seed=1)
    model.set_fault("compressor_failure")
    readings = []
    for _ in range(4):
        model.advance(6 * HOUR)
        readings.append(model.cabinet_c)
    rises = [b - a for a, b in itertools.pairwise(readings)]
    assert all(r > 0 for r in rises)
    assert rises[0] > rises[1] > rises[2]  # slowing down as it nears the room
    assert readings[-1] < 22.0


def test_an_empty_freezer_warms_faster_than_a_loaded_one() -> None:
    loaded = UltFreezer()
    empty = UltFreezer(UltFreezerParams(load_heat_capacity_j_per_k=30_000.0))
    for model in (loaded, empty):
        model.set_fault("compressor_failure")
    assert _hours_to_reach(empty, -65.0) < 0.6 * _hours_to_reach(loaded, -65.0)


def test_door_open_60_s_raises_a_few_degrees_and_recovers_within_30_min() -> None:
    model = UltFreezer(seed=2)
    model.advance(3 * HOUR)
    before = model.cabinet_c
    model.set_fault("door_open")
    assert model.values()["door_open"] == 1
    assert model.values()["relay_status"] == DOOR_OPEN_BIT
    model.advance(10)
    assert (model.cabinet_c - before) * 6 > 3.0  # several C per minute at first
    model.advance(50)
    model.clear_fault("door_open")
    rise = model.cabinet_c - before
    assert 2.0 <= rise <= 10.0  # about 5.3 C
    assert model.values()["relay_status"] == 0
    recovery_s = 0
    while model.cabinet_c > model.params.setpoint_c + 1.0:
        model.advance(1)
        recovery_s += 1
    assert recovery_s <= 30 * 60  # about 5.5 min
    model.advance(HOUR)
    assert abs(model.cabinet_c - model.params.setpoint_c) <= model.params.hysteresis_c + 0.3


def test_power_failure_raises_the_status_bit_and_warms_like_a_compressor_failure() -> None:
    lost_power = UltFreezer(seed=3)
    lost_compressor = UltFreezer(seed=3)
    lost_power.set_fault("power_failure")
    lost_compressor.set_fault("compressor_failure")
    lost_power.advance(1)
    values = lost_power.values()
    assert values["power_fail"] == 1
    assert values["compressor_on"] == 0
    assert isinstance(values["system_status"], int)
    assert values["system_status"] & POWER_FAIL_BIT
    assert lost_power.status.state == "power failure"
    hours_power = _hours_to_reach(lost_power, -65.0)
    hours_compressor = _hours_to_reach(lost_compressor, -65.0)
    assert hours_power == pytest.approx(hours_compressor, abs=0.1)
    lost_power.clear_fault("power_failure")
    lost_power.advance(4 * HOUR)
    assert lost_power.values()["system_status"] == 0
    assert lost_power.cabinet_c < -75.0  # cooling again


def test_outputs_carry_setpoints_like_the_tsx_register_map() -> None:
    values = UltFreezer().values()
    assert values["setpoint"] == -80.0
    assert values["warm_alarm_setpoint"] == -70.0
    assert values["cold_alarm_setpoint"] == -90.0


def test_a_compressor_too_weak_for_the_heat_leak_is_rejected() -> None:
    with pytest.raises(ValueError, match="cannot hold the setpoint"):
        UltFreezerParams(cooling_power_w=200.0)
    with pytest.raises(ValueError, match="hysteresis_c"):
        UltFreezerParams(hysteresis_c=0.0)
