"""What the device reports, as opposed to what is true: noise, a drifting or broken probe.

Sensor faults act on the reported primary temperature only; a model's controller keeps
regulating on the true temperature, as it would with an independent monitoring probe.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

Value = float | None | str


@dataclass(frozen=True)
class SensorParams:
    """How the primary probe misbehaves under the sensor faults.

    broken_probe_value: what the device reports with an open-circuit probe. It depends on the
        protocol: a numeric sentinel such as -999.9 for a register map, NaN for a Vaisala probe
        (an unavailable reading is NaN), "T_ERR" for a Forma 900 push frame.
    drift_c_per_h: how fast the reported temperature walks away from the true one under
        ``sensor_drift`` (signed; the offset is cleared with the fault, as after a recalibration).
    noisy_factor: noise multiplier under ``noisy`` (a loose connector or interference).
    """

    broken_probe_value: float | str = -999.9
    drift_c_per_h: float = 0.5
    noisy_factor: float = 10.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.drift_c_per_h):
            raise ValueError("drift_c_per_h must be finite")
        if not (math.isfinite(self.noisy_factor) and self.noisy_factor >= 1.0):
            raise ValueError("noisy_factor must be a finite number >= 1")


class SensorEffects:
    """Noise drawn once per integration step, so that reading the values never uses the RNG
    and results do not depend on how often a front end polls."""

    def __init__(
        self, params: SensorParams, noise_sd: Mapping[str, float], rng: random.Random
    ) -> None:
        for name, sd in noise_sd.items():
            if not (math.isfinite(sd) and sd >= 0.0):
                raise ValueError(f"noise standard deviation of {name!r} must be >= 0")
        self.params = params
        self._channels = sorted((n, sd) for n, sd in noise_sd.items() if sd > 0.0)
        self._noise: dict[str, float] = dict.fromkeys(noise_sd, 0.0)
        self._rng = rng
        self.drift_c = 0.0

    def step(self, dt_s: float, *, drifting: bool, noisy: bool) -> None:
        if drifting:
            self.drift_c += self.params.drift_c_per_h * dt_s / 3600.0
        factor = self.params.noisy_factor if noisy else 1.0
        gauss = self._rng.gauss
        for name, sd in self._channels:
            self._noise[name] = gauss(0.0, sd * factor)

    def reset_drift(self) -> None:
        self.drift_c = 0.0

    def apply(self, true: dict[str, Value], primary: str, open_circuit: bool) -> dict[str, Value]:
        """The reported values: true ones plus noise, the primary one drifted or broken."""
        out = dict(true)
        for name, noise in self._noise.items():
            value = out.get(name)
            if isinstance(value, float):
                out[name] = value + noise
        value = out.get(primary)
        if isinstance(value, float):
            out[primary] = value + self.drift_c
        if open_circuit:
            out[primary] = self.params.broken_probe_value
        return out
