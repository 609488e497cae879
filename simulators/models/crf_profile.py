"""A controlled-rate freezer's program: ramps and holds, and the setpoint it gives at any time.

Kept apart from the freezer's physics so that the same program can be shown, validated and
compared with a run curve on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Ramp:
    """Change the setpoint at ``rate_c_per_min`` (signed: negative cools) until ``target_c``."""

    rate_c_per_min: float
    target_c: float


@dataclass(frozen=True)
class Hold:
    """Keep the setpoint for ``minutes``; None holds until the run is stopped."""

    minutes: float | None


Step = Ramp | Hold

#: A typical cell-therapy program: 4 C start, -1 C/min to -40, -10 C/min to -90, hold 10 min.
DEFAULT_PROFILE: tuple[Step, ...] = (Ramp(-1.0, -40.0), Ramp(-10.0, -90.0), Hold(10.0))


def describe(step: Step) -> str:
    """The step as an operator would read it on the freezer's display or in a batch record."""
    if isinstance(step, Ramp):
        return f"ramp {step.rate_c_per_min:+.1f} C/min to {step.target_c:.1f} C"
    return "hold until stopped" if step.minutes is None else f"hold {step.minutes:g} min"


@dataclass(frozen=True)
class Segment:
    """One step resolved to times: from ``start_s`` for ``duration_s`` (inf: open-ended)."""

    index: int
    step: Step
    start_s: float
    duration_s: float
    from_c: float
    to_c: float

    def temp_at(self, t_s: float) -> float:
        if self.duration_s == 0.0 or math.isinf(self.duration_s):
            return self.to_c
        share = min(1.0, max(0.0, (t_s - self.start_s) / self.duration_s))
        return self.from_c + (self.to_c - self.from_c) * share


class Profile:
    """A validated program starting at ``start_c``; times are seconds since the run started."""

    def __init__(self, start_c: float, steps: tuple[Step, ...]) -> None:
        if not steps:
            raise ValueError("a profile needs at least one step")
        self.start_c = start_c
        self.segments: list[Segment] = []
        t, temp = 0.0, start_c
        for i, step in enumerate(steps):
            if math.isinf(t):
                raise ValueError(f"step {i} follows an open-ended hold and would never run")
            if isinstance(step, Ramp):
                duration = _ramp_duration(i, step, temp)
                target = step.target_c
            else:
                if step.minutes is not None and not (
                    math.isfinite(step.minutes) and step.minutes >= 0.0
                ):
                    raise ValueError(f"step {i}: hold minutes must be >= 0 or None")
                duration = math.inf if step.minutes is None else step.minutes * 60.0
                target = temp
            self.segments.append(Segment(i, step, t, duration, temp, target))
            t, temp = t + duration, target
        self.duration_s = t
        self.end_c = temp

    def segment_at(self, t_s: float) -> Segment | None:
        """The step running ``t_s`` seconds into the run; None once the program is over."""
        for seg in self.segments:
            if t_s < seg.start_s + seg.duration_s:
                return seg
        return None

    def temp_at(self, t_s: float) -> float:
        """The programmed temperature ``t_s`` seconds into the run (the end value after it)."""
        seg = self.segment_at(t_s)
        return self.end_c if seg is None else seg.temp_at(t_s)


def _ramp_duration(index: int, ramp: Ramp, from_c: float) -> float:
    if not (math.isfinite(ramp.rate_c_per_min) and ramp.rate_c_per_min != 0.0):
        raise ValueError(f"step {index}: ramp rate must be a non-zero number")
    if not math.isfinite(ramp.target_c):
        raise ValueError(f"step {index}: ramp target must be a number")
    change = ramp.target_c - from_c
    if change != 0.0 and (change > 0.0) != (ramp.rate_c_per_min > 0.0):
        raise ValueError(
            f"step {index}: a ramp at {ramp.rate_c_per_min:+} C/min cannot go from "
            f"{from_c} C to {ramp.target_c} C"
        )
    return abs(change / ramp.rate_c_per_min) * 60.0
