"""The common shape of every equipment model: simulated time, faults, readings, events.

A model owns no clock. Time is what :meth:`Model.advance` is given, integrated in fixed
sub-steps (carrying any remainder to the next call) so that ``advance(3600)`` and 3600 calls
of ``advance(1)`` produce the same state: a front end may drive a model from any clock, at
any speed, in any chunks. A fault set or cleared between sub-steps acts from the next one.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from simulators.models.events import Event, EventLog
from simulators.models.sensor import SensorEffects, SensorParams, Value

#: Faults every model accepts: they concern the probe and the link, not the process.
COMMON_FAULTS = frozenset({"sensor_open_circuit", "sensor_drift", "noisy", "comm_drop"})

#: Largest integration sub-step: the hysteresis and profile logic is written for seconds.
MAX_STEP_S = 10.0

# Slack when splitting time into steps, so that ten advance(0.1) make one 1 s step.
_TIME_EPSILON_S = 1e-6


@dataclass(frozen=True)
class ModelStatus:
    """A summary for a front end's status page; not part of the device's readings."""

    kind: str
    time_s: float
    state: str
    faults: tuple[str, ...]
    answering: bool
    events_waiting: int
    events_dropped: int


class Model(ABC):
    """Base of the equipment models.

    Subclasses declare ``kind``, ``primary_output`` (the temperature the sensor faults act on),
    ``process_faults`` and optional ``fault_aliases``, and implement :meth:`_step`,
    :meth:`_true_values` and :meth:`_state`.
    """

    kind: ClassVar[str]
    primary_output: ClassVar[str]
    process_faults: ClassVar[frozenset[str]]
    fault_aliases: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        *,
        sensor: SensorParams,
        noise_sd: Mapping[str, float],
        seed: int = 0,
        step_s: float = 1.0,
        max_events: int = 1000,
    ) -> None:
        if not (math.isfinite(step_s) and 0.0 < step_s <= MAX_STEP_S):
            raise ValueError(f"step_s must be in (0, {MAX_STEP_S}] seconds, got {step_s}")
        self.seed = seed
        self.step_s = step_s
        self.rng = random.Random(seed)
        self._sensor = SensorEffects(sensor, noise_sd, self.rng)
        self._events = EventLog(max_events)
        self._faults: set[str] = set()
        self._steps = 0
        self._pending_s = 0.0

    # --- time -------------------------------------------------------------------------------

    @property
    def time_s(self) -> float:
        """Simulated seconds the state stands at (at most one sub-step behind the advances)."""
        return self._steps * self.step_s

    def advance(self, dt_s: float) -> None:
        """Run the model for ``dt_s`` seconds of simulated time."""
        if not (math.isfinite(dt_s) and dt_s >= 0.0):
            raise ValueError(f"advance needs a finite, non-negative duration, got {dt_s}")
        self._pending_s += dt_s
        n = int((self._pending_s + _TIME_EPSILON_S) // self.step_s)
        self._pending_s = max(0.0, self._pending_s - n * self.step_s)
        step = self.step_s
        for _ in range(n):
            self._steps += 1  # during _step, time_s is the end of the step being integrated
            self._step(step)
            self._sensor.step(
                step, drifting="sensor_drift" in self._faults, noisy="noisy" in self._faults
            )

    # --- faults -----------------------------------------------------------------------------

    @classmethod
    def accepted_faults(cls) -> frozenset[str]:
        """Every fault name this kind accepts, aliases included."""
        return cls.process_faults | COMMON_FAULTS | frozenset(cls.fault_aliases)

    def _canonical(self, name: str) -> str:
        name = self.fault_aliases.get(name, name)
        if name not in self.process_faults and name not in COMMON_FAULTS:
            valid = ", ".join(sorted(self.accepted_faults()))
            raise ValueError(f"{self.kind} has no fault {name!r}; it accepts: {valid}")
        return name

    @property
    def faults(self) -> frozenset[str]:
        """The active faults, by their canonical names."""
        return frozenset(self._faults)

    def set_fault(self, name: str) -> None:
        """Make a fault active (no-op if it already is). Raises ValueError for unknown names."""
        name = self._canonical(name)
        if name not in self._faults:
            self._faults.add(name)
            self._fault_changed(name, active=True)

    def clear_fault(self, name: str) -> None:
        """End a fault (no-op if it is not active). Raises ValueError for unknown names."""
        name = self._canonical(name)
        if name in self._faults:
            self._faults.discard(name)
            self._fault_changed(name, active=False)

    def _fault_changed(self, name: str, *, active: bool) -> None:
        """Hook for faults that change state at the moment they start or end."""
        if name == "sensor_drift" and not active:
            self._sensor.reset_drift()

    # --- readings ---------------------------------------------------------------------------

    @property
    def answering(self) -> bool:
        """False under ``comm_drop``: the model keeps running, the front end must go silent."""
        return "comm_drop" not in self._faults

    @property
    def broken_probe_value(self) -> float | str:
        """What the primary temperature reads with an open-circuit probe."""
        return self._sensor.params.broken_probe_value

    def values(self) -> dict[str, Value]:
        """The named outputs as the device would report them. A pure read: no RNG, no time."""
        return self._sensor.apply(
            self._true_values(), self.primary_output, "sensor_open_circuit" in self._faults
        )

    def true_values(self) -> dict[str, Value]:
        """The outputs without sensor noise or sensor faults: the physical truth, for tests."""
        return self._true_values()

    @property
    def status(self) -> ModelStatus:
        return ModelStatus(
            kind=self.kind,
            time_s=self.time_s,
            state=self._state(),
            faults=tuple(sorted(self._faults)),
            answering=self.answering,
            events_waiting=len(self._events.peek()),
            events_dropped=self._events.dropped,
        )

    # --- events -----------------------------------------------------------------------------

    def _record(self, kind: str, message: str = "", *, start_s: float | None = None) -> None:
        end_s = self.time_s if start_s is not None else None
        self._events.record(Event(kind, self.time_s, message, start_s, end_s))

    def drain_events(self) -> list[Event]:
        """Events since the last drain, oldest first (bounded: the oldest are dropped first)."""
        return self._events.drain()

    # --- for subclasses ---------------------------------------------------------------------

    def _active(self, name: str) -> bool:
        """Whether a fault (canonical name) is active."""
        return name in self._faults

    @abstractmethod
    def _step(self, dt_s: float) -> None:
        """Integrate the physics over one sub-step of ``dt_s`` seconds."""

    @abstractmethod
    def _true_values(self) -> dict[str, Value]:
        """The outputs from the true state."""

    @abstractmethod
    def _state(self) -> str:
        """A short description of what the equipment is doing, for :attr:`status`."""
