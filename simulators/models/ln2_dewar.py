"""A vapour-phase LN2 freezer with an auto-fill controller (after Chart MVE TEC 3000 / CryoExtra).

The level falls with boil-off; the controller opens the fill valve at the low set point and
closes it at the high one, and records each fill. The top-of-storage temperature settles at a
level-dependent equilibrium (the lower the liquid, the warmer the vapour at the top) and warms
toward the room once the liquid is nearly gone. An open lid lets room air in, boils off more
and cuts the fill valve's power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from simulators.models.base import Model
from simulators.models.sensor import SensorParams, Value
from simulators.models.thermal import relax


@dataclass(frozen=True)
class Ln2DewarParams:
    """Physical and controller parameters; defaults are a large vapour-phase freezer."""

    #: Auto-fill starts when the level falls to this (mm of liquid).
    low_level_mm: float = 100.0
    #: Auto-fill stops when the level reaches this (mm).
    high_level_mm: float = 150.0
    initial_level_mm: float = 140.0
    #: Level lost to evaporation with the lid closed (mm/day): about 5 % of the high level a
    #: day, a fill every six days or so. Raise it for a demo that should fill more often.
    boil_off_mm_per_day: float = 8.0
    #: Boil-off multiplier while the lid is open.
    lid_boil_off_factor: float = 3.0
    #: Net level rise while the fill valve is open and the supply has liquid (mm/min).
    fill_rate_mm_per_min: float = 3.0
    #: Equilibrium top-of-storage temperature at the high level, lid closed (C).
    temp_top_at_high_c: float = -190.0
    #: How much warmer that equilibrium is per mm of level below the high level (C/mm).
    temp_rise_per_mm_c: float = 0.1
    #: Below this level the liquid no longer cools the vapour evenly: the cooling fades
    #: linearly to nothing at empty (mm).
    reserve_level_mm: float = 20.0
    #: Time constant of the top temperature toward its equilibrium while LN2 cools it (min).
    cooled_time_constant_min: float = 20.0
    #: Time constant of the warm-up toward the room with no liquid left, lid closed (h).
    dry_time_constant_h: float = 24.0
    #: With the lid open, the top of storage relaxes toward this (C)...
    lid_open_temp_c: float = -100.0
    #: ...with this time constant (min).
    lid_time_constant_min: float = 3.0
    ambient_c: float = 22.0
    temp_noise_sd_c: float = 0.2
    level_noise_sd_mm: float = 0.5
    #: Starting top temperature; None starts at the equilibrium for the initial level.
    initial_temp_c: float | None = None
    sensor: SensorParams = field(default_factory=SensorParams)

    def __post_init__(self) -> None:
        positive = {
            "high_level_mm": self.high_level_mm,
            "fill_rate_mm_per_min": self.fill_rate_mm_per_min,
            "reserve_level_mm": self.reserve_level_mm,
            "cooled_time_constant_min": self.cooled_time_constant_min,
            "dry_time_constant_h": self.dry_time_constant_h,
            "lid_time_constant_min": self.lid_time_constant_min,
            "lid_boil_off_factor": self.lid_boil_off_factor,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not 0.0 <= self.low_level_mm < self.high_level_mm:
            raise ValueError("need 0 <= low_level_mm < high_level_mm")
        if not (math.isfinite(self.boil_off_mm_per_day) and self.boil_off_mm_per_day >= 0.0):
            raise ValueError("boil_off_mm_per_day must be >= 0")
        if self.initial_level_mm < 0.0:
            raise ValueError("initial_level_mm must be >= 0")
        if self.dry_time_constant_h * 60.0 <= self.cooled_time_constant_min:
            raise ValueError("dry_time_constant_h must be longer than cooled_time_constant_min")

    def equilibrium_temp_c(self, level_mm: float) -> float:
        """Top temperature the storage settles at with this much liquid and the lid closed."""
        if level_mm >= self.reserve_level_mm:
            return self.temp_top_at_high_c + self.temp_rise_per_mm_c * max(
                0.0, self.high_level_mm - level_mm
            )
        # Below the reserve: room heat leak (rate 1/dry tau) against LN2 cooling that fades
        # with the level, each toward its own temperature.
        cold = self.equilibrium_temp_c(self.reserve_level_mm)
        k_total = 1.0 / (self.cooled_time_constant_min * 60.0)
        k_leak = 1.0 / (self.dry_time_constant_h * 3600.0)
        k_cool = (k_total - k_leak) * max(0.0, level_mm) / self.reserve_level_mm
        # cooling source temperature chosen so that the equilibrium is continuous at the reserve
        source = (cold * k_total - self.ambient_c * k_leak) / (k_total - k_leak)
        return (k_leak * self.ambient_c + k_cool * source) / (k_leak + k_cool)

    def time_constant_s(self, level_mm: float) -> float:
        """Time constant of the top temperature, lid closed, at this level."""
        k_total = 1.0 / (self.cooled_time_constant_min * 60.0)
        k_leak = 1.0 / (self.dry_time_constant_h * 3600.0)
        share = min(1.0, max(0.0, level_mm) / self.reserve_level_mm)
        return 1.0 / (k_leak + (k_total - k_leak) * share)


class Ln2Dewar(Model):
    """Boil-off, hysteresis auto-fill with fill events, lid and supply faults.

    A fill is the controller's fill demand: it starts at the low set point and ends at the high
    one. ``fill_valve_open`` is the valve itself, held shut while the lid is open.
    ``fill_time`` counts seconds since the current fill started (0 when not filling); with
    ``ln2_supply_empty`` the valve stays open, nothing arrives and ``fill_time`` keeps growing.
    """

    kind: ClassVar[str] = "ln2_dewar"
    primary_output: ClassVar[str] = "temp_top"
    process_faults: ClassVar[frozenset[str]] = frozenset({"lid_open", "ln2_supply_empty"})
    fault_aliases: ClassVar[dict[str, str]] = {"ln2_supply_fault": "ln2_supply_empty"}

    def __init__(
        self,
        params: Ln2DewarParams | None = None,
        *,
        seed: int = 0,
        step_s: float = 1.0,
        max_events: int = 1000,
    ) -> None:
        self.params = p = params or Ln2DewarParams()
        super().__init__(
            sensor=p.sensor,
            noise_sd={"temp_top": p.temp_noise_sd_c, "level": p.level_noise_sd_mm},
            seed=seed,
            step_s=step_s,
            max_events=max_events,
        )
        self.level_mm = p.initial_level_mm
        self.temp_top_c = (
            p.equilibrium_temp_c(self.level_mm) if p.initial_temp_c is None else p.initial_temp_c
        )
        self.fill_started_s: float | None = None
        self.fill_count = 0

    @property
    def filling(self) -> bool:
        return self.fill_started_s is not None

    @property
    def fill_valve_open(self) -> bool:
        return self.filling and not self._active("lid_open")

    @property
    def fill_time_s(self) -> float:
        return 0.0 if self.fill_started_s is None else self.time_s - self.fill_started_s

    def _step(self, dt_s: float) -> None:
        p = self.params
        lid_open = self._active("lid_open")
        self._control()

        boil_off = p.boil_off_mm_per_day / 86_400.0 * (p.lid_boil_off_factor if lid_open else 1.0)
        rise = 0.0
        if self.fill_valve_open and not self._active("ln2_supply_empty"):
            rise = p.fill_rate_mm_per_min / 60.0
        self.level_mm = max(0.0, self.level_mm + (rise - boil_off) * dt_s)

        if lid_open:
            target, tau = p.lid_open_temp_c, p.lid_time_constant_min * 60.0
        else:
            target, tau = p.equilibrium_temp_c(self.level_mm), p.time_constant_s(self.level_mm)
        self.temp_top_c = relax(self.temp_top_c, target, tau, dt_s)

    def _control(self) -> None:
        """The auto-fill hysteresis: fill from the low set point up to the high one."""
        p = self.params
        if self.fill_started_s is None and self.level_mm <= p.low_level_mm:
            self.fill_started_s = self.time_s
            self.fill_count += 1
            self._record("fill_started", f"Fill started at {self.level_mm:.1f} mm")
        elif self.fill_started_s is not None and self.level_mm >= p.high_level_mm:
            started = self.fill_started_s
            self.fill_started_s = None
            self._record("fill_ended", f"Fill ended at {self.level_mm:.1f} mm", start_s=started)

    def _fault_changed(self, name: str, *, active: bool) -> None:
        super()._fault_changed(name, active=active)
        if name == "lid_open":
            self._record("lid_opened" if active else "lid_closed")

    def _true_values(self) -> dict[str, Value]:
        return {
            "temp_top": self.temp_top_c,
            "level": self.level_mm,
            "fill_valve_open": int(self.fill_valve_open),
            "lid_open": int(self._active("lid_open")),
            "fill_time": self.fill_time_s,
            "low_level_setpoint": self.params.low_level_mm,
            "high_level_setpoint": self.params.high_level_mm,
        }

    def _state(self) -> str:
        if self.filling and not self.fill_valve_open:
            return "fill blocked: lid open"
        return "filling" if self.filling else "standby"
