"""The vapour-phase LN2 freezer: boil-off and auto-fill, supply loss, lid openings."""

from __future__ import annotations

import pytest

from simulators.models import Ln2Dewar, Ln2DewarParams

HOUR = 3600.0
#: A demo boil-off: 200 mm/day empties the 50 mm fill band in 6 h.
FAST = Ln2DewarParams(boil_off_mm_per_day=200.0)


def _fills(model: Ln2Dewar) -> list[float]:
    return [e.duration_s or 0.0 for e in model.drain_events() if e.kind == "fill_ended"]


def test_default_boil_off_is_a_few_percent_a_day() -> None:
    model = Ln2Dewar(step_s=10.0)
    model.advance(24 * HOUR)
    lost = 140.0 - model.level_mm
    assert 0.02 < lost / model.params.high_level_mm < 0.10
    assert -190.0 < model.temp_top_c < -180.0


def test_level_falls_and_refills_between_the_set_points() -> None:
    model = Ln2Dewar(FAST, seed=1, step_s=5.0)
    low, high = model.params.low_level_mm, model.params.high_level_mm
    levels: list[float] = []
    temps: list[float] = []
    for _ in range(3 * 24 * 60):  # three days, a reading a minute
        model.advance(60)
        level = model.values()["level"]
        assert isinstance(level, float)
        levels.append(level)
        temps.append(model.temp_top_c)
    assert low - 3.0 <= min(levels) and max(levels) <= high + 3.0
    events = model.drain_events()
    started = [e for e in events if e.kind == "fill_started"]
    ended = [e for e in events if e.kind == "fill_ended"]
    assert len(ended) >= 10
    assert len(started) - len(ended) in (0, 1)
    for event in ended:
        assert event.start_s is not None and event.end_s is not None
        # 50 mm at 3 mm/min less boil-off: about 17.5 min
        assert event.duration_s == pytest.approx(50.0 / (3.0 - 200.0 / 1440.0) * 60.0, rel=0.02)
    assert all(-190.5 < t < -183.0 for t in temps)


def test_fill_time_counts_the_current_fill() -> None:
    model = Ln2Dewar(Ln2DewarParams(initial_level_mm=100.5, boil_off_mm_per_day=200.0))
    model.advance(600)  # 100.5 mm falls to 100 mm after 216 s
    values = model.values()
    assert values["fill_valve_open"] == 1
    assert values["fill_time"] == pytest.approx(600.0 - 216.0, abs=2.0)
    assert model.status.state == "filling"
    model.advance(HOUR)  # a fill takes about 17.5 min
    assert model.values()["fill_time"] == 0.0
    assert model.values()["fill_valve_open"] == 0


def test_with_the_supply_empty_a_fill_runs_on_and_the_level_keeps_falling() -> None:
    params = Ln2DewarParams(initial_level_mm=101.0, boil_off_mm_per_day=200.0)
    model = Ln2Dewar(params, seed=2, step_s=5.0)
    normal_fill_s = 18 * 60.0
    model.set_fault("ln2_supply_empty")
    model.advance(0.25 * HOUR)  # 101 mm falls to the 100 mm low set point in 7 min
    assert model.values()["fill_valve_open"] == 1
    temp_at_fill_start = model.temp_top_c
    model.advance(3 * HOUR)
    values = model.values()
    assert values["fill_valve_open"] == 1
    assert isinstance(values["fill_time"], float) and values["fill_time"] > 2 * normal_fill_s
    assert model.level_mm < model.params.low_level_mm - 20.0
    model.advance(9 * HOUR)  # liquid nearly gone: the top of storage warms
    assert model.level_mm < 5.0
    assert model.temp_top_c > temp_at_fill_start + 15.0
    assert _fills(model) == []
    model.clear_fault("ln2_supply_empty")  # the supply tank is replaced
    model.advance(2 * HOUR)
    assert _fills(model), "the fill finishes once liquid arrives"
    assert model.level_mm > model.params.low_level_mm


def test_ln2_supply_fault_is_an_alias() -> None:
    model = Ln2Dewar()
    model.set_fault("ln2_supply_fault")
    assert model.faults == {"ln2_supply_empty"}
    model.clear_fault("ln2_supply_fault")
    assert model.faults == set()


def test_lid_open_warms_the_top_quickly_and_recovers_after_closing() -> None:
    model = Ln2Dewar(seed=3)
    model.advance(HOUR)
    before = model.temp_top_c
    model.set_fault("lid_open")
    assert model.values()["lid_open"] == 1
    model.advance(120)
    assert model.temp_top_c - before > 30.0  # about 44 C in 2 min
    model.advance(15 * 60)
    assert model.temp_top_c == pytest.approx(model.params.lid_open_temp_c, abs=5.0)
    model.clear_fault("lid_open")
    model.advance(HOUR)
    assert model.temp_top_c < -180.0
    kinds = [e.kind for e in model.drain_events()]
    assert kinds == ["lid_opened", "lid_closed"]


def test_lid_open_blocks_the_fill_until_it_closes() -> None:
    model = Ln2Dewar(Ln2DewarParams(initial_level_mm=101.0, boil_off_mm_per_day=200.0))
    model.set_fault("lid_open")
    model.advance(HOUR)  # boils off 3x faster with the lid open
    assert model.level_mm < model.params.low_level_mm - 10.0
    assert model.values()["fill_valve_open"] == 0
    assert model.status.state == "fill blocked: lid open"
    model.clear_fault("lid_open")
    model.advance(1)
    assert model.values()["fill_valve_open"] == 1
    model.advance(HOUR)
    assert [e.kind for e in model.drain_events() if e.kind.startswith("fill")] == [
        "fill_started",
        "fill_ended",
    ]


def test_equilibrium_warms_as_the_level_falls() -> None:
    params = Ln2DewarParams()
    temps = [params.equilibrium_temp_c(level) for level in (150, 100, 20, 5, 1, 0)]
    assert temps == sorted(temps)
    assert temps[0] == -190.0
    assert temps[-1] == params.ambient_c


def test_inconsistent_set_points_are_rejected() -> None:
    with pytest.raises(ValueError, match="low_level_mm"):
        Ln2DewarParams(low_level_mm=160.0)
