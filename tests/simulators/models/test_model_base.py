"""Behaviour every equipment model shares: time, determinism, faults, sensor faults, events."""

from __future__ import annotations

import math
import statistics

import pytest

from simulators.models import (
    COMMON_FAULTS,
    MODEL_TYPES,
    Ln2Dewar,
    Ln2DewarParams,
    Model,
    create_model,
)

KINDS = sorted(MODEL_TYPES)


def _primary(model: Model) -> float:
    value = model.values()[model.primary_output]
    assert isinstance(value, float)
    return value


def _true_primary(model: Model) -> float:
    value = model.true_values()[model.primary_output]
    assert isinstance(value, float)
    return value


def test_registry_and_factory_agree() -> None:
    assert KINDS == ["co2_incubator", "controlled_rate_freezer", "ln2_dewar", "ult_freezer"]
    for kind in KINDS:
        assert type(create_model(kind)) is MODEL_TYPES[kind]
    with pytest.raises(ValueError, match="known: co2_incubator"):
        create_model("blast_chiller")


@pytest.mark.parametrize("kind", KINDS)
def test_result_does_not_depend_on_how_time_is_chunked(kind: str) -> None:
    one_go = create_model(kind, seed=7)
    by_seconds = create_model(kind, seed=7)
    by_halves = create_model(kind, seed=7)
    one_go.advance(3600)
    for _ in range(3600):
        by_seconds.advance(1)
    for _ in range(7200):
        by_halves.advance(0.5)
    assert one_go.values() == by_seconds.values() == by_halves.values()
    assert one_go.time_s == by_seconds.time_s == by_halves.time_s == 3600


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_readings_other_seed_other_noise(kind: str) -> None:
    a, b, c = (create_model(kind, seed=s) for s in (1, 1, 2))
    trace_a: list[float] = []
    trace_b: list[float] = []
    trace_c: list[float] = []
    for _ in range(120):
        for model, trace in ((a, trace_a), (b, trace_b), (c, trace_c)):
            model.advance(5)
            trace.append(_primary(model))
    assert trace_a == trace_b
    assert trace_a != trace_c


@pytest.mark.parametrize("kind", KINDS)
def test_values_is_a_pure_read(kind: str) -> None:
    model = create_model(kind, seed=3)
    model.advance(100)
    assert model.values() == model.values()
    twin = create_model(kind, seed=3)
    twin.advance(100)
    model.advance(100)
    twin.advance(100)
    assert model.values() == twin.values()


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_fault_names_the_accepted_ones(kind: str) -> None:
    model = create_model(kind)
    with pytest.raises(ValueError, match="no fault 'meteor_strike'") as info:
        model.set_fault("meteor_strike")
    for name in model.accepted_faults():
        assert name in str(info.value)
    assert model.accepted_faults() >= COMMON_FAULTS
    with pytest.raises(ValueError):
        model.clear_fault("meteor_strike")


@pytest.mark.parametrize("kind", KINDS)
def test_faults_set_and_clear_while_running(kind: str) -> None:
    model = create_model(kind)
    for name in sorted(model.process_faults | COMMON_FAULTS):
        model.set_fault(name)
        model.set_fault(name)  # idempotent
        model.advance(30)
        assert name in model.faults
        assert name in model.status.faults
        model.clear_fault(name)
        model.clear_fault(name)
        model.advance(30)
        assert name not in model.faults
    assert model.time_s == 60 * len(model.process_faults | COMMON_FAULTS)


@pytest.mark.parametrize("kind", KINDS)
def test_sensor_open_circuit_reports_the_broken_probe_value(kind: str) -> None:
    model = create_model(kind)
    model.advance(60)
    model.set_fault("sensor_open_circuit")
    model.advance(60)
    reported = model.values()[model.primary_output]
    broken = model.broken_probe_value
    if isinstance(broken, float) and math.isnan(broken):
        assert isinstance(reported, float)
        assert math.isnan(reported)
    else:
        assert reported == broken
    assert math.isfinite(_true_primary(model))
    model.clear_fault("sensor_open_circuit")
    model.advance(1)
    assert abs(_primary(model) - _true_primary(model)) < 1.0


def test_broken_probe_values_follow_the_protocols() -> None:
    broken = {kind: create_model(kind).broken_probe_value for kind in KINDS}
    assert broken["ult_freezer"] == -999.9
    assert isinstance(broken["co2_incubator"], float)
    assert math.isnan(broken["co2_incubator"])  # Vaisala: NaN for an unavailable reading


@pytest.mark.parametrize("kind", KINDS)
def test_sensor_drift_moves_the_reading_not_the_process(kind: str) -> None:
    drifting = create_model(kind, seed=5)
    healthy = create_model(kind, seed=5)
    drifting.set_fault("sensor_drift")
    drifting.advance(7200)
    healthy.advance(7200)
    assert drifting.true_values() == healthy.true_values()
    offset = _primary(drifting) - _primary(healthy)
    assert offset == pytest.approx(1.0, abs=1e-6)  # 0.5 C/h for 2 h, same noise
    drifting.clear_fault("sensor_drift")
    drifting.advance(1)
    healthy.advance(1)
    assert _primary(drifting) == pytest.approx(_primary(healthy))


@pytest.mark.parametrize("kind", KINDS)
def test_noisy_multiplies_noise_by_ten(kind: str) -> None:
    def noise_sd(model: Model) -> float:
        errors = []
        for _ in range(500):
            model.advance(1)
            errors.append(_primary(model) - _true_primary(model))
        return statistics.pstdev(errors)

    quiet = create_model(kind, seed=11)
    loud = create_model(kind, seed=11)
    loud.set_fault("noisy")
    ratio = noise_sd(loud) / noise_sd(quiet)
    assert 8.0 < ratio < 12.0


@pytest.mark.parametrize("kind", KINDS)
def test_comm_drop_silences_the_device_but_the_process_goes_on(kind: str) -> None:
    dropped = create_model(kind, seed=2)
    running = create_model(kind, seed=2)
    assert dropped.answering
    dropped.set_fault("comm_drop")
    assert not dropped.answering
    assert not dropped.status.answering
    dropped.advance(1800)
    running.advance(1800)
    assert dropped.values() == running.values()
    dropped.clear_fault("comm_drop")
    assert dropped.answering


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_advance_rejects_bad_durations(bad: float) -> None:
    with pytest.raises(ValueError):
        create_model("ult_freezer").advance(bad)


@pytest.mark.parametrize("step_s", [0.0, -1.0, 11.0, math.nan])
def test_step_length_is_bounded(step_s: float) -> None:
    with pytest.raises(ValueError, match="step_s"):
        create_model("ln2_dewar", step_s=step_s)


def test_short_advances_accumulate_into_steps() -> None:
    model = create_model("ult_freezer")
    for _ in range(10):
        model.advance(0.1)
    assert model.time_s == 1.0


def test_event_log_is_bounded_and_counts_what_it_dropped() -> None:
    params = Ln2DewarParams(boil_off_mm_per_day=2000.0)  # a fill about every 36 min
    model = Ln2Dewar(params, max_events=3, step_s=5.0)
    model.advance(6 * 3600)
    assert model.status.events_waiting == 3
    assert model.status.events_dropped > 0
    events = model.drain_events()
    assert len(events) == 3
    assert [e.at_s for e in events] == sorted(e.at_s for e in events)
    assert model.drain_events() == []
