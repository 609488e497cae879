"""The controlled-rate freezer: profile tracking, nucleation on the sample, LN2 supply fault."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from simulators.models import (
    ControlledRateFreezer,
    ControlledRateFreezerParams,
    Hold,
    Profile,
    Ramp,
)
from simulators.models.crf_profile import describe

NUCLEATION_WINDOW_S = 10 * 60.0


@dataclass
class Point:
    t_s: float
    program: float
    chamber: float
    sample: float


def _run(model: ControlledRateFreezer) -> list[Point]:
    """Advance second by second through the run, recording the reported curve."""
    points = []
    while model.run_state == "running":
        model.advance(1)
        values = model.values()
        program, chamber, sample = (
            values["program_temp"],
            values["chamber_temp"],
            values["sample_temp"],
        )
        if program is None:
            break
        assert isinstance(program, float)
        assert isinstance(chamber, float) and isinstance(sample, float)
        points.append(Point(model.time_s, program, chamber, sample))
    return points


def _near_nucleation(model: ControlledRateFreezer, t_s: float) -> bool:
    start = model.nucleated_at_s
    return start is not None and start <= t_s < start + NUCLEATION_WINDOW_S


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chamber_tracks_the_profile_within_2_c(seed: int) -> None:
    model = ControlledRateFreezer(seed=seed)
    points = _run(model)
    assert points[-1].t_s == pytest.approx(model.profile.duration_s, abs=1.0)
    worst = max(abs(p.chamber - p.program) for p in points)
    assert worst < 2.0  # about 0.35 C (the lag on the -10 C/min ramp, plus noise)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_follows_except_around_nucleation(seed: int) -> None:
    model = ControlledRateFreezer(seed=seed)
    points = _run(model)
    lag_s = model.params.sample_time_constant_s
    outside = [p for p in points if not _near_nucleation(model, p.t_s)]
    assert len(outside) > 0.7 * len(points)
    # Against the program delayed by the sample's time constant: a lag, not a deviation.
    worst_lagged = max(abs(p.sample - model.profile.temp_at(p.t_s - lag_s)) for p in outside)
    assert worst_lagged < 5.0  # about 4 C, where the ramp steepens to -10 C/min
    # On the -1 C/min ramp the sample is within 2 C of the program itself.
    slow = [p for p in outside if p.t_s < model.profile.segments[1].start_s]
    assert max(abs(p.sample - p.program) for p in slow) < 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nucleation_releases_latent_heat_on_the_sample(seed: int) -> None:
    model = ControlledRateFreezer(seed=seed)
    points = _run(model)
    nucleated = model.nucleated_at_s
    assert nucleated is not None
    assert -10.0 <= model.nucleation_temp_c <= -5.0
    at = next(p for p in points if p.t_s >= nucleated)
    peak = max(p.sample for p in points if nucleated <= p.t_s < nucleated + 300)
    assert peak - at.sample > 2.0  # about 5 C up toward the freezing point
    assert peak < model.params.freezing_point_c + 0.5
    after = next(p for p in points if p.t_s >= nucleated + NUCLEATION_WINDOW_S)
    assert abs(after.sample - after.program) < 2.5  # following again
    assert [e.kind for e in model.drain_events()].count("nucleation") == 1


def test_nucleation_temperature_is_drawn_from_the_seed() -> None:
    temps = {ControlledRateFreezer(seed=s).nucleation_temp_c for s in range(5)}
    assert len(temps) == 5
    assert ControlledRateFreezer(seed=9).nucleation_temp_c == (
        ControlledRateFreezer(seed=9).nucleation_temp_c
    )


def test_ln2_supply_fault_makes_the_chamber_fall_behind() -> None:
    model = ControlledRateFreezer(seed=1)
    model.advance(5 * 60)
    model.set_fault("ln2_supply_fault")
    points = _run(model)
    behind = max(p.chamber - p.program for p in points)
    assert behind > 2.0  # 0.3 C/min of cooling against a 1-10 C/min program: tens of degrees
    assert min(p.chamber for p in points) > -40.0


def test_chamber_catches_up_once_the_supply_returns() -> None:
    model = ControlledRateFreezer(seed=1)
    model.set_fault("ln2_supply_empty")  # the alias
    assert model.faults == {"ln2_supply_fault"}
    model.advance(20 * 60)
    values = model.values()
    assert isinstance(values["chamber_temp"], float) and isinstance(values["program_temp"], float)
    assert values["chamber_temp"] - values["program_temp"] > 5.0
    model.clear_fault("ln2_supply_empty")
    model.advance(3 * 60)
    values = model.true_values()
    assert isinstance(values["chamber_temp"], float) and isinstance(values["program_temp"], float)
    assert abs(values["chamber_temp"] - values["program_temp"]) < 1.0


def test_run_state_step_and_events_are_readable() -> None:
    model = ControlledRateFreezer(seed=4)
    assert model.values()["running"] == 1
    assert model.values()["step"] == 0
    assert model.run_started_s == 0.0
    model.advance(45 * 60)  # the -1 C/min ramp ends at 44 min
    assert model.values()["step"] == 1
    assert model.status.state == "running step 2 of 3"
    model.advance(20 * 60)  # the run ends at 59 min
    values = model.values()
    assert values["running"] == 0
    assert values["run_state"] == "complete"
    assert values["step"] is None
    assert values["program_temp"] is None
    assert values["run_time"] == pytest.approx(59 * 60.0)
    assert model.run_ended_s == pytest.approx(59 * 60.0)
    assert model.chamber_c == pytest.approx(-90.0, abs=0.5)  # holds the end temperature
    events = model.drain_events()
    assert [e.kind for e in events if e.kind != "nucleation"] == [
        "run_started",
        "step_started",
        "step_started",
        "step_started",
        "run_ended",
    ]
    assert events[-1].duration_s == pytest.approx(59 * 60.0)
    assert events[1].message == "Step 1: ramp -1.0 C/min to -40.0 C"


def test_stop_standby_and_restart() -> None:
    params = ControlledRateFreezerParams(start_run_at_creation=False)
    model = ControlledRateFreezer(params)
    assert model.values()["run_state"] == "idle"
    assert model.values()["running"] == 0
    model.start_run()
    model.advance(10 * 60)
    model.stop_run()
    assert model.run_state == "stopped"
    held = model.chamber_c
    model.advance(10 * 60)
    assert model.chamber_c == pytest.approx(held, abs=0.01)
    model.standby()
    model.advance(10 * 60)
    assert model.chamber_c == pytest.approx(4.0, abs=0.01)
    model.start_run()
    assert model.run_started_s == pytest.approx(30 * 60.0)
    assert model.values()["run_state"] == "running"


def test_profiles_are_validated_and_described() -> None:
    with pytest.raises(ValueError, match="cannot go from"):
        Profile(4.0, (Ramp(+1.0, -40.0),))
    with pytest.raises(ValueError, match="never run"):
        Profile(4.0, (Hold(None), Ramp(-1.0, -40.0)))
    with pytest.raises(ValueError, match="at least one step"):
        Profile(4.0, ())
    with pytest.raises(ValueError):
        ControlledRateFreezerParams(profile=(Ramp(0.0, -40.0),))
    profile = Profile(4.0, (Ramp(-1.0, -40.0), Hold(None)))
    assert profile.temp_at(600) == pytest.approx(-6.0)
    assert profile.temp_at(1e9) == -40.0
    assert profile.segment_at(1e9) is not None  # an open hold never ends
    assert describe(Hold(None)) == "hold until stopped"
    assert describe(Hold(5)) == "hold 5 min"
