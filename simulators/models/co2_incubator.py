"""A CO2 incubator at 37 C, 5 % CO2 and about 95 %RH (water-pan humidified).

Temperature, CO2 and humidity each relax toward their room values through leaks, much faster
with the door open; the heater and the CO2 injector push back with limited capacity. Like real
incubators, CO2 injection is paused while the door is open (door switch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from simulators.models.base import Model
from simulators.models.sensor import SensorParams, Value
from simulators.models.thermal import blend, relax


@dataclass(frozen=True)
class Co2IncubatorParams:
    """Physical and controller parameters; defaults are a water-jacketed 170 L incubator."""

    temp_setpoint_c: float = 37.0
    co2_setpoint_pct: float = 5.0
    #: Humidity the water pan holds the closed chamber at (%RH).
    rh_equilibrium_pct: float = 95.0
    room_temp_c: float = 22.0
    #: CO2 in room air (%): what the chamber decays to without supply.
    room_co2_pct: float = 0.04
    room_rh_pct: float = 40.0
    #: Time constant of the chamber toward room temperature with the heater off, door shut (h).
    passive_cooling_time_constant_h: float = 3.0
    #: Time constant of the heat loss through the open door (min).
    door_cooling_time_constant_min: float = 7.5
    #: Fastest warming the heater can give the chamber (C/min).
    heater_max_rate_c_per_min: float = 0.5
    #: Time constant of the temperature controller's correction (min).
    heater_control_time_constant_min: float = 2.0
    #: Time constant of CO2 leaking out of the closed chamber (h).
    co2_leak_time_constant_h: float = 2.0
    #: Time constant of CO2 exchange with room air through the open door (s).
    door_co2_exchange_time_constant_s: float = 170.0
    #: Fastest CO2 rise the injector can give (percentage points per minute).
    co2_max_injection_pct_per_min: float = 0.3
    #: Time constant of the CO2 controller's correction (min).
    co2_control_time_constant_min: float = 1.0
    #: Time constant of the humidity recovering from the water pan, door shut (min).
    rh_recovery_time_constant_min: float = 20.0
    #: Time constant of humidity exchange through the open door (s).
    door_rh_exchange_time_constant_s: float = 120.0
    temp_noise_sd_c: float = 0.05
    co2_noise_sd_pct: float = 0.03
    rh_noise_sd_pct: float = 0.5
    #: A Vaisala probe reports an unavailable reading as NaN.
    sensor: SensorParams = field(default_factory=lambda: SensorParams(broken_probe_value=math.nan))

    def __post_init__(self) -> None:
        positive = {
            "passive_cooling_time_constant_h": self.passive_cooling_time_constant_h,
            "door_cooling_time_constant_min": self.door_cooling_time_constant_min,
            "heater_max_rate_c_per_min": self.heater_max_rate_c_per_min,
            "heater_control_time_constant_min": self.heater_control_time_constant_min,
            "co2_leak_time_constant_h": self.co2_leak_time_constant_h,
            "door_co2_exchange_time_constant_s": self.door_co2_exchange_time_constant_s,
            "co2_max_injection_pct_per_min": self.co2_max_injection_pct_per_min,
            "co2_control_time_constant_min": self.co2_control_time_constant_min,
            "rh_recovery_time_constant_min": self.rh_recovery_time_constant_min,
            "door_rh_exchange_time_constant_s": self.door_rh_exchange_time_constant_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if self.co2_setpoint_pct <= self.room_co2_pct:
            raise ValueError("co2_setpoint_pct must be above room_co2_pct")
        if self.temp_setpoint_c <= self.room_temp_c:
            raise ValueError("temp_setpoint_c must be above room_temp_c (the model only heats)")


def _controlled_rate(
    error: float, loss_rate: float, control_tau_s: float, max_rate: float
) -> float:
    """What a feed-forward + proportional actuator adds: cover the loss, close the error."""
    return min(max_rate, max(0.0, loss_rate + error / control_tau_s))


class Co2Incubator(Model):
    """Door, CO2 supply, heater and power faults acting on temperature, CO2 and humidity."""

    kind: ClassVar[str] = "co2_incubator"
    primary_output: ClassVar[str] = "chamber_temp"
    process_faults: ClassVar[frozenset[str]] = frozenset(
        {"door_open", "co2_supply_failure", "heater_failure", "power_failure"}
    )

    def __init__(
        self,
        params: Co2IncubatorParams | None = None,
        *,
        seed: int = 0,
        step_s: float = 1.0,
        max_events: int = 1000,
    ) -> None:
        self.params = p = params or Co2IncubatorParams()
        super().__init__(
            sensor=p.sensor,
            noise_sd={
                "chamber_temp": p.temp_noise_sd_c,
                "co2": p.co2_noise_sd_pct,
                "rh": p.rh_noise_sd_pct,
            },
            seed=seed,
            step_s=step_s,
            max_events=max_events,
        )
        self.temp_c = p.temp_setpoint_c
        self.co2_pct = p.co2_setpoint_pct
        self.rh_pct = p.rh_equilibrium_pct

    def _step(self, dt_s: float) -> None:
        p = self.params
        door = self._active("door_open")
        powered = not self._active("power_failure")

        # Temperature: leak (and door) toward the room, heater rate on top.
        k_loss = 1.0 / (p.passive_cooling_time_constant_h * 3600.0)
        if door:
            k_loss += 1.0 / (p.door_cooling_time_constant_min * 60.0)
        heat = 0.0
        if powered and not self._active("heater_failure"):
            heat = _controlled_rate(
                p.temp_setpoint_c - self.temp_c,
                k_loss * (self.temp_c - p.room_temp_c),
                p.heater_control_time_constant_min * 60.0,
                p.heater_max_rate_c_per_min / 60.0,
            )
        self.temp_c = relax(self.temp_c, p.room_temp_c + heat / k_loss, 1.0 / k_loss, dt_s)

        # CO2: leak (and door) toward room air; injection paused with the door open.
        k_co2 = 1.0 / (p.co2_leak_time_constant_h * 3600.0)
        if door:
            k_co2 += 1.0 / p.door_co2_exchange_time_constant_s
        inject = 0.0
        if powered and not door and not self._active("co2_supply_failure"):
            inject = _controlled_rate(
                p.co2_setpoint_pct - self.co2_pct,
                k_co2 * (self.co2_pct - p.room_co2_pct),
                p.co2_control_time_constant_min * 60.0,
                p.co2_max_injection_pct_per_min / 60.0,
            )
        self.co2_pct = relax(self.co2_pct, p.room_co2_pct + inject / k_co2, 1.0 / k_co2, dt_s)

        # Humidity: the pan pulls it back to its equilibrium; the open door toward the room.
        terms = [(1.0 / (p.rh_recovery_time_constant_min * 60.0), p.rh_equilibrium_pct)]
        if door:
            terms.append((1.0 / p.door_rh_exchange_time_constant_s, p.room_rh_pct))
        rh_target, k_rh = blend(terms)
        self.rh_pct = relax(self.rh_pct, rh_target, 1.0 / k_rh, dt_s)

    def _true_values(self) -> dict[str, Value]:
        p = self.params
        return {
            "chamber_temp": self.temp_c,
            "co2": self.co2_pct,
            "rh": self.rh_pct,
            "temp_setpoint": p.temp_setpoint_c,
            "co2_setpoint": p.co2_setpoint_pct,
            "door_open": int(self._active("door_open")),
            "power_fail": int(self._active("power_failure")),
        }

    def _state(self) -> str:
        if self._active("power_failure"):
            return "power failure"
        return "door open" if self._active("door_open") else "regulating"
