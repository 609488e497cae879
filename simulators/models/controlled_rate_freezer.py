"""A controlled-rate freezer (LN2-cooled) running a programmed profile over a sample.

The chamber follows the program through a rate-limited controller; LN2 supply trouble caps
its cooling rate so the chamber falls behind. The sample probe lags the chamber, supercools,
and at nucleation releases latent heat: its temperature jumps toward the freezing point, holds
there while the heat is removed, then resumes following the chamber.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from simulators.models.base import Model
from simulators.models.crf_profile import DEFAULT_PROFILE, Profile, Step, describe
from simulators.models.sensor import SensorParams, Value
from simulators.models.thermal import relax

RUN_STATES = ("idle", "running", "complete", "stopped")


@dataclass(frozen=True)
class ControlledRateFreezerParams:
    """Program, chamber controller and sample parameters; defaults are a T-cell run in bags."""

    #: Standby temperature and the program's start.
    start_temp_c: float = 4.0
    profile: tuple[Step, ...] = DEFAULT_PROFILE
    #: Start the program as soon as the model is created (a demo needs no operator).
    start_run_at_creation: bool = True
    #: Time constant of the chamber controller's correction (s).
    chamber_time_constant_s: float = 30.0
    #: Share of the programmed rate the controller applies ahead of the error (feed-forward);
    #: the chamber lags a ramp by about (1 - gain) * rate * time constant.
    feedforward_gain: float = 0.9
    #: Fastest cooling with a healthy LN2 supply (C/min).
    max_cooling_rate_c_per_min: float = 30.0
    #: Fastest cooling under ``ln2_supply_fault`` (low tank pressure, empty supply) (C/min).
    fault_cooling_rate_c_per_min: float = 0.3
    #: Fastest warming by the chamber heater (C/min).
    max_heating_rate_c_per_min: float = 10.0
    #: Time constant of the sample probe behind the chamber air (s).
    sample_time_constant_s: float = 60.0
    #: The sample nucleates at a temperature drawn (from the model's seed) in this range (C).
    nucleation_min_c: float = -10.0
    nucleation_max_c: float = -5.0
    #: Temperature the freezing sample holds at while its latent heat is removed (C).
    freezing_point_c: float = -2.0
    #: Latent heat to remove, as the degrees it would otherwise cool the sample by (C).
    latent_heat_c: float = 15.0
    #: Time constant of the latent-heat release pushing the sample to the freezing point (s).
    latent_release_time_constant_s: float = 5.0
    chamber_noise_sd_c: float = 0.1
    sample_noise_sd_c: float = 0.1
    sensor: SensorParams = field(default_factory=SensorParams)

    def __post_init__(self) -> None:
        positive = {
            "chamber_time_constant_s": self.chamber_time_constant_s,
            "max_cooling_rate_c_per_min": self.max_cooling_rate_c_per_min,
            "fault_cooling_rate_c_per_min": self.fault_cooling_rate_c_per_min,
            "max_heating_rate_c_per_min": self.max_heating_rate_c_per_min,
            "sample_time_constant_s": self.sample_time_constant_s,
            "latent_release_time_constant_s": self.latent_release_time_constant_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not 0.0 <= self.feedforward_gain <= 1.0:
            raise ValueError("feedforward_gain must be in [0, 1]")
        if not self.nucleation_min_c <= self.nucleation_max_c < self.freezing_point_c:
            raise ValueError("need nucleation_min_c <= nucleation_max_c < freezing_point_c")
        if self.latent_heat_c < 0.0:
            raise ValueError("latent_heat_c must be >= 0")
        Profile(self.start_temp_c, self.profile)  # validates the steps


class ControlledRateFreezer(Model):
    """Program runs with readable state; nucleation on the sample; LN2 supply fault.

    Run states: ``idle`` (standby at the start temperature), ``running``, ``complete`` and
    ``stopped`` (both keep the chamber at the temperature it ended at, the samples still
    inside, until :meth:`start_run` or :meth:`standby`). ``step`` is the 0-based index of the
    running step, None when no run is going.
    """

    kind: ClassVar[str] = "controlled_rate_freezer"
    primary_output: ClassVar[str] = "chamber_temp"
    process_faults: ClassVar[frozenset[str]] = frozenset({"ln2_supply_fault"})
    fault_aliases: ClassVar[dict[str, str]] = {"ln2_supply_empty": "ln2_supply_fault"}

    def __init__(
        self,
        params: ControlledRateFreezerParams | None = None,
        *,
        seed: int = 0,
        step_s: float = 1.0,
        max_events: int = 1000,
    ) -> None:
        self.params = p = params or ControlledRateFreezerParams()
        super().__init__(
            sensor=p.sensor,
            noise_sd={"chamber_temp": p.chamber_noise_sd_c, "sample_temp": p.sample_noise_sd_c},
            seed=seed,
            step_s=step_s,
            max_events=max_events,
        )
        self.profile = Profile(p.start_temp_c, p.profile)
        self.chamber_c = p.start_temp_c
        self.sample_c = p.start_temp_c
        self.run_state = "idle"
        self.run_started_s: float | None = None
        self.run_ended_s: float | None = None
        self.step_index: int | None = None
        self.nucleation_temp_c = p.nucleation_max_c
        self.nucleated_at_s: float | None = None
        self._hold_c = p.start_temp_c
        self._latent_left_c = 0.0
        self._frozen = False
        if p.start_run_at_creation:
            self.start_run()

    # --- operator actions -------------------------------------------------------------------

    def start_run(self) -> None:
        """Start the program now with a fresh sample at the chamber's temperature.

        A run already going is ended as ``stopped`` first.
        """
        p = self.params
        if self.run_state == "running":
            self._end_run("stopped")
        self.run_state = "running"
        self.run_started_s = self.time_s
        self.run_ended_s = None
        self.step_index = None
        self.sample_c = self.chamber_c
        self.nucleation_temp_c = self.rng.uniform(p.nucleation_min_c, p.nucleation_max_c)
        self.nucleated_at_s = None
        self._latent_left_c = 0.0
        self._frozen = False
        self._record("run_started")
        self._enter_step(0.0)

    def stop_run(self) -> None:
        """Abort the running program; the chamber holds where it is."""
        if self.run_state == "running":
            self._end_run("stopped")

    def standby(self) -> None:
        """Return a finished or stopped freezer to standby at the start temperature."""
        if self.run_state != "running":
            self.run_state = "idle"
            self._hold_c = self.params.start_temp_c

    @property
    def run_time_s(self) -> float | None:
        if self.run_started_s is None:
            return None
        end = self.time_s if self.run_ended_s is None else self.run_ended_s
        return end - self.run_started_s

    @property
    def program_temp_c(self) -> float | None:
        """The program's setpoint now; None when no run is going."""
        if self.run_state != "running" or self.run_started_s is None:
            return None
        return self.profile.temp_at(self.time_s - self.run_started_s)

    # --- physics ----------------------------------------------------------------------------

    def _step(self, dt_s: float) -> None:
        p = self.params
        target, feedforward = self._hold_c, 0.0
        if self.run_state == "running" and self.run_started_s is not None:
            t_run = self.time_s - self.run_started_s
            self._enter_step(t_run)
            if self.run_state == "running":
                target = self.profile.temp_at(t_run)
                feedforward = (target - self.profile.temp_at(t_run - dt_s)) / dt_s
        rate = p.feedforward_gain * feedforward + (target - self.chamber_c) / (
            p.chamber_time_constant_s
        )
        cooling = (
            p.fault_cooling_rate_c_per_min
            if self._active("ln2_supply_fault")
            else p.max_cooling_rate_c_per_min
        )
        rate = min(p.max_heating_rate_c_per_min / 60.0, max(-cooling / 60.0, rate))
        self.chamber_c += rate * dt_s
        self._sample_step(dt_s)

    def _sample_step(self, dt_s: float) -> None:
        p = self.params
        if (
            self.run_state == "running"
            and not self._frozen
            and self.nucleated_at_s is None
            and self.sample_c <= self.nucleation_temp_c
        ):
            self.nucleated_at_s = self.time_s
            self._latent_left_c = p.latent_heat_c
            self._record("nucleation", f"Sample nucleated at {self.sample_c:.1f} C")
        if self.nucleated_at_s is not None and not self._frozen:
            k_chamber = 1.0 / p.sample_time_constant_s
            k_release = 1.0 / p.latent_release_time_constant_s
            equilibrium = (k_chamber * self.chamber_c + k_release * p.freezing_point_c) / (
                k_chamber + k_release
            )
            before = self.sample_c
            self.sample_c = relax(before, equilibrium, 1.0 / (k_chamber + k_release), dt_s)
            mean = 0.5 * (before + self.sample_c)
            self._latent_left_c -= k_release * max(0.0, p.freezing_point_c - mean) * dt_s
            if self._latent_left_c <= 0.0:
                self._frozen = True
        else:
            self.sample_c = relax(self.sample_c, self.chamber_c, p.sample_time_constant_s, dt_s)

    def _enter_step(self, t_run_s: float) -> None:
        """Track the program's step at ``t_run_s``; record step changes and the run's end."""
        segment = self.profile.segment_at(t_run_s)
        if segment is None:
            self._end_run("complete")
            return
        if segment.index != self.step_index:
            self.step_index = segment.index
            self._record("step_started", f"Step {segment.index + 1}: {describe(segment.step)}")

    def _end_run(self, how: str) -> None:
        self.run_state = how
        self.run_ended_s = self.time_s
        self.step_index = None
        self._hold_c = self.profile.end_c if how == "complete" else self.chamber_c
        self._record("run_ended", f"Run {how}", start_s=self.run_started_s)

    # --- readings ---------------------------------------------------------------------------

    def _true_values(self) -> dict[str, Value]:
        return {
            "chamber_temp": self.chamber_c,
            "sample_temp": self.sample_c,
            "program_temp": self.program_temp_c,
            "step": self.step_index,
            "running": int(self.run_state == "running"),
            "run_state": self.run_state,
            "run_time": self.run_time_s,
        }

    def _state(self) -> str:
        if self.run_state == "running" and self.step_index is not None:
            return f"running step {self.step_index + 1} of {len(self.profile.segments)}"
        return self.run_state
