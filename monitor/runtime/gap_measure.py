"""How long coldwatch was not running, measured on a clock that can be trusted, or not at all.

A short gap after a clean stop does not page (``coldwatch/monitoring_gap``'s
``clean_gap_threshold``), so a gap that reads short must be short. The wall clock alone cannot
promise it: booted behind (fake-hwclock, NTP not yet answering) it reads hours powered off as
seconds. So the run markers carry the boot clock (:mod:`monitor.core.boot_clock`) and the gap
after a clean stop is, in this order:

- **same boot** (the stop marker's boot id is this boot's): the ``CLOCK_BOOTTIME`` difference,
  whatever the wall clock did meanwhile;
- **rebooted while stopped**: the wall clock, only if the kernel says it is synchronised now;
  otherwise *unknown*: "rebooted while stopped and the clock is not synchronised: the gap
  cannot be measured";
- **no boot clock** (not Linux, a marker from an older version): the wall clock.

A wall-clock gap below zero is *unknown* too. An unknown gap has no ``downtime_seconds`` and is
never short: it pages. After an unclean stop the newest record has no boot stamp (readings
carry none), so the gap is the wall clock's, with the same rules; an unclean stop pages anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from monitor.core.boot_clock import BootStamp

Measure = Literal["boot_clock", "wall_clock", "unknown"]

REBOOTED_UNSYNCHRONISED = (
    "rebooted while stopped and the clock is not synchronised: the gap cannot be measured"
)
WALL_CLOCK_BEHIND = "the clock is behind the last record: the gap cannot be measured"
BOOT_CLOCK_BACKWARD = "the boot clock went backward: the gap cannot be measured"
DISAGREEMENT = 2.0
"""Seconds by which the wall clock may differ from the boot clock before the text says so."""


@dataclass(frozen=True)
class Gap:
    """``seconds``: the gap, None when it cannot be measured; ``measure``: which clock gave it;
    ``wall_seconds``: what the wall clock says, whatever was used; ``rebooted``: None when
    unknown; ``why``: why it cannot be measured."""

    seconds: float | None
    measure: Measure
    wall_seconds: float
    rebooted: bool | None
    synchronised: bool | None
    why: str | None = None

    def describe(self) -> str:
        """``3 s (boot clock)``, ``21600 s (wall clock, synchronised; rebooted while stopped)``,
        ``an unknown time (rebooted while stopped and ...; the wall clock says 4 s)``."""
        wall = f"the wall clock says {self.wall_seconds:.0f} s"
        if self.seconds is None:
            return f"an unknown time ({self.why}; {wall})"
        if self.measure == "boot_clock":
            differs = abs(self.wall_seconds - self.seconds) > DISAGREEMENT
            return f"{self.seconds:.0f} s (boot clock{'; ' + wall if differs else ''})"
        how = "wall clock"
        if self.synchronised:
            how += ", synchronised"
        if self.rebooted:
            how += "; rebooted while stopped"
        return f"{self.seconds:.0f} s ({how})"

    def to_json(self) -> dict[str, Any]:
        return {
            "downtime_seconds": None if self.seconds is None else round(self.seconds, 3),
            "gap_measure": self.measure,
            "wall_clock_seconds": round(self.wall_seconds, 3),
            "rebooted": self.rebooted,
            "clock_synchronised": self.synchronised,
            "gap_unknown_because": self.why,
        }


def measure_gap(
    marker: BootStamp | None,
    here: BootStamp | None,
    wall_seconds: float,
    synchronised: bool | None,
    *,
    clean: bool,
) -> Gap:
    """The gap since the last run: ``marker`` the boot stamp of its last marker (the
    ``daemon_stopped`` of a clean stop), ``here`` this boot's now, ``wall_seconds`` now minus
    the newest record on the wall clock, ``synchronised`` the kernel's NTP state now."""
    rebooted = None if marker is None or here is None else marker.boot_id != here.boot_id

    def gap(seconds: float | None, measure: Measure, why: str | None = None) -> Gap:
        return Gap(seconds, measure, wall_seconds, rebooted, synchronised, why)

    if clean and rebooted is False and marker is not None and here is not None:
        since = here.since_boot - marker.since_boot
        if since < 0:
            return gap(None, "unknown", BOOT_CLOCK_BACKWARD)
        return gap(since, "boot_clock")
    if rebooted and synchronised is not True:
        return gap(None, "unknown", REBOOTED_UNSYNCHRONISED)
    if wall_seconds < 0:
        return gap(None, "unknown", WALL_CLOCK_BEHIND)
    return gap(wall_seconds, "wall_clock")
