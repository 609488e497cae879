"""The CO2 incubator: door openings, CO2 supply loss, heater loss, power loss."""

from __future__ import annotations

from simulators.models import Co2Incubator

HOUR = 3600.0


def _opened_for(model: Co2Incubator, seconds: float) -> None:
    model.set_fault("door_open")
    model.advance(seconds)
    model.clear_fault("door_open")


def test_holds_37_c_5_percent_and_95_rh() -> None:
    model = Co2Incubator(seed=1)
    model.advance(24 * HOUR)
    assert abs(model.temp_c - 37.0) < 0.01
    assert abs(model.co2_pct - 5.0) < 0.01
    assert abs(model.rh_pct - 95.0) < 0.5


def test_a_door_opening_drops_co2_and_temperature_which_recover_within_15_min() -> None:
    model = Co2Incubator(seed=2)
    model.advance(HOUR)
    _opened_for(model, 60)
    co2_drop = 5.0 - model.co2_pct
    temp_drop = 37.0 - model.temp_c
    assert 1.0 <= co2_drop <= 2.0  # about 1.5 percentage points
    assert 1.0 <= temp_drop <= 2.0  # about 1.5 C
    assert model.rh_pct < 85.0
    co2_recovered_s = temp_recovered_s = None
    for second in range(1, 15 * 60 + 1):
        model.advance(1)
        if co2_recovered_s is None and abs(model.co2_pct - 5.0) <= 0.2:
            co2_recovered_s = second
        if temp_recovered_s is None and abs(model.temp_c - 37.0) <= 0.2:
            temp_recovered_s = second
    assert co2_recovered_s is not None and co2_recovered_s <= 15 * 60  # about 5.5 min
    assert temp_recovered_s is not None and temp_recovered_s <= 15 * 60  # about 3.5 min
    model.advance(2 * HOUR)
    assert abs(model.rh_pct - 95.0) < 1.0  # humidity recovers, slowly


def test_co2_injection_waits_for_the_door_to_close() -> None:
    model = Co2Incubator()
    model.set_fault("door_open")
    model.advance(10 * 60)
    assert model.co2_pct < 1.0  # a door left open empties the chamber of CO2
    assert model.status.state == "door open"


def test_co2_supply_failure_decays_toward_room_air() -> None:
    model = Co2Incubator(seed=3)
    model.set_fault("co2_supply_failure")
    readings = []
    for _ in range(12):
        model.advance(HOUR)
        readings.append(model.co2_pct)
    assert readings == sorted(readings, reverse=True)
    assert readings[0] < 4.0  # below a 1 % alarm band within the hour
    assert readings[-1] < 0.1  # room air is 0.04 %
    assert readings[-1] > model.params.room_co2_pct
    model.clear_fault("co2_supply_failure")
    model.advance(HOUR)
    assert abs(model.co2_pct - 5.0) < 0.05


def test_heater_failure_cools_slowly_toward_the_room() -> None:
    model = Co2Incubator(seed=4)
    model.set_fault("heater_failure")
    model.advance(HOUR)
    assert 30.0 < model.temp_c < 36.0  # about 32.7 C after an hour
    model.advance(23 * HOUR)
    assert 22.0 < model.temp_c < 23.0


def test_power_failure_stops_heating_and_co2() -> None:
    model = Co2Incubator()
    model.set_fault("power_failure")
    model.advance(2 * HOUR)
    assert model.values()["power_fail"] == 1
    assert model.temp_c < 36.0
    assert model.co2_pct < 4.0
    assert model.status.state == "power failure"
