"""A -80 C ultra-low-temperature freezer (modelled on a Thermo TSX: status bits of 0x671/0x674).

Two thermal nodes: the cabinet (air, liner and the control probe) and the load (racks and
frozen contents). The cabinet is small and fast, so a door opening warms it by several degrees a
minute; the load is large and slow, so the cabinet recovers quickly once the door closes, and a
loaded freezer without cooling warms toward the room over many hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from simulators.models.base import Model
from simulators.models.sensor import SensorParams, Value
from simulators.models.thermal import blend, relax

#: Bit 1 of the TSX system status register 0x671: power failure.
POWER_FAIL_BIT = 1 << 1
#: Bit 9 of the TSX relay enclosure status register 0x674: door 1 open.
DOOR_OPEN_BIT = 1 << 9


@dataclass(frozen=True)
class UltFreezerParams:
    """Physical parameters. The defaults are a loaded upright -80 C freezer in a 22 C room.

    With them the whole freezer warms with a time constant of (30 + 110) kJ/K / 2.5 W/K
    = 15.6 h once cooling stops: -80 to -65 C (cabinet probe) in about 1.8 h.
    """

    setpoint_c: float = -80.0
    warm_alarm_setpoint_c: float = -70.0
    cold_alarm_setpoint_c: float = -90.0
    #: The compressor starts at setpoint + hysteresis and stops at setpoint - hysteresis.
    hysteresis_c: float = 1.5
    ambient_c: float = 22.0
    #: Air, inner liner and control probe: what a door opening warms quickly (J/K).
    cabinet_heat_capacity_j_per_k: float = 30_000.0
    #: Racks, boxes and frozen contents: 110 kJ/K is a loaded freezer, about 30 kJ/K an empty one.
    load_heat_capacity_j_per_k: float = 110_000.0
    #: Heat leak through insulation and gasket, room to cabinet (W/K).
    wall_conductance_w_per_k: float = 2.5
    #: Exchange between cabinet air and the load (W/K); sets how fast the two equalise.
    load_conductance_w_per_k: float = 60.0
    #: Warm air exchange through the open door (W/K).
    door_conductance_w_per_k: float = 30.0
    #: Heat the running compressor removes from the cabinet at -80 C (W).
    cooling_power_w: float = 500.0
    #: Standard deviation of the cabinet probe's noise (C).
    temp_noise_sd_c: float = 0.1
    #: Starting temperature of both nodes; None starts at the setpoint.
    initial_temp_c: float | None = None
    sensor: SensorParams = field(default_factory=SensorParams)

    def __post_init__(self) -> None:
        positive = {
            "hysteresis_c": self.hysteresis_c,
            "cabinet_heat_capacity_j_per_k": self.cabinet_heat_capacity_j_per_k,
            "load_heat_capacity_j_per_k": self.load_heat_capacity_j_per_k,
            "wall_conductance_w_per_k": self.wall_conductance_w_per_k,
            "load_conductance_w_per_k": self.load_conductance_w_per_k,
            "door_conductance_w_per_k": self.door_conductance_w_per_k,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not (math.isfinite(self.cooling_power_w) and self.cooling_power_w >= 0.0):
            raise ValueError("cooling_power_w must be >= 0")
        leak_at_setpoint = self.wall_conductance_w_per_k * (self.ambient_c - self.setpoint_c)
        if self.cooling_power_w <= leak_at_setpoint:
            raise ValueError(
                f"cooling_power_w ({self.cooling_power_w} W) cannot hold the setpoint against "
                f"a heat leak of {leak_at_setpoint:.0f} W"
            )


class UltFreezer(Model):
    """Cabinet temperature cycling on compressor hysteresis; door, compressor and power faults.

    ``compressor_on`` is the controller's relay: under ``compressor_failure`` the controller keeps
    calling for cooling (the relay stays on, as with a refrigerant leak) but none is delivered;
    under ``power_failure`` the relay drops and the power-fail status bit is raised.
    """

    kind: ClassVar[str] = "ult_freezer"
    primary_output: ClassVar[str] = "cabinet_temp"
    process_faults: ClassVar[frozenset[str]] = frozenset(
        {"door_open", "compressor_failure", "power_failure"}
    )

    def __init__(
        self,
        params: UltFreezerParams | None = None,
        *,
        seed: int = 0,
        step_s: float = 1.0,
        max_events: int = 1000,
    ) -> None:
        self.params = p = params or UltFreezerParams()
        super().__init__(
            sensor=p.sensor,
            noise_sd={"cabinet_temp": p.temp_noise_sd_c},
            seed=seed,
            step_s=step_s,
            max_events=max_events,
        )
        start = p.setpoint_c if p.initial_temp_c is None else p.initial_temp_c
        self.cabinet_c = start
        self.load_c = start
        self.compressor_called = start >= p.setpoint_c + p.hysteresis_c

    @property
    def compressor_running(self) -> bool:
        """Whether cooling is actually delivered."""
        return self.compressor_called and not self._active("compressor_failure")

    def _step(self, dt_s: float) -> None:
        p = self.params
        if self._active("power_failure"):
            self.compressor_called = False
        elif self.cabinet_c >= p.setpoint_c + p.hysteresis_c:
            self.compressor_called = True
        elif self.cabinet_c <= p.setpoint_c - p.hysteresis_c:
            self.compressor_called = False

        terms = [
            (p.wall_conductance_w_per_k, p.ambient_c),
            (p.load_conductance_w_per_k, self.load_c),
        ]
        if self._active("door_open"):
            terms.append((p.door_conductance_w_per_k, p.ambient_c))
        equilibrium, conductance = blend(terms)
        if self.compressor_running:
            equilibrium -= p.cooling_power_w / conductance
        cabinet_tau = p.cabinet_heat_capacity_j_per_k / conductance
        load_tau = p.load_heat_capacity_j_per_k / p.load_conductance_w_per_k
        cabinet_before = self.cabinet_c
        self.cabinet_c = relax(self.cabinet_c, equilibrium, cabinet_tau, dt_s)
        self.load_c = relax(self.load_c, cabinet_before, load_tau, dt_s)

    def _true_values(self) -> dict[str, Value]:
        p = self.params
        power_fail = self._active("power_failure")
        door_open = self._active("door_open")
        return {
            "cabinet_temp": self.cabinet_c,
            "setpoint": p.setpoint_c,
            "warm_alarm_setpoint": p.warm_alarm_setpoint_c,
            "cold_alarm_setpoint": p.cold_alarm_setpoint_c,
            "compressor_on": int(self.compressor_called),
            "door_open": int(door_open),
            "power_fail": int(power_fail),
            "system_status": POWER_FAIL_BIT if power_fail else 0,
            "relay_status": DOOR_OPEN_BIT if door_open else 0,
        }

    def _state(self) -> str:
        if self._active("power_failure"):
            return "power failure"
        if self.compressor_called and not self.compressor_running:
            return "calling for cooling, none delivered"
        return "cooling" if self.compressor_running else "compressor off"
