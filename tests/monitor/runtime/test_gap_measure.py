"""Which clock measures the gap since the last run, and when it cannot be measured."""

from __future__ import annotations

import pytest

from monitor.core.boot_clock import BootStamp
from monitor.runtime.gap_measure import (
    BOOT_CLOCK_BACKWARD,
    REBOOTED_UNSYNCHRONISED,
    WALL_CLOCK_BEHIND,
    measure_gap,
)

STOP = BootStamp("boot-1", 1000.0)


def test_same_boot_the_boot_clock_whatever_the_wall_clock_says() -> None:
    for wall, synchronised in ((-3600.0, False), (3.0, True), (7200.0, None)):
        gap = measure_gap(STOP, BootStamp("boot-1", 1003.0), wall, synchronised, clean=True)
        assert (gap.seconds, gap.measure, gap.rebooted) == (3.0, "boot_clock", False)
    assert measure_gap(STOP, BootStamp("boot-1", 1003.0), 3.5, None, clean=True).describe() == (
        "3 s (boot clock)"  # within 2 s: nothing to say about the wall clock
    )
    assert measure_gap(STOP, BootStamp("boot-1", 1003.0), -3600, None, clean=True).describe() == (
        "3 s (boot clock; the wall clock says -3600 s)"
    )


def test_same_boot_a_boot_clock_gone_backward_is_unknown() -> None:
    gap = measure_gap(STOP, BootStamp("boot-1", 10.0), 3.0, True, clean=True)
    assert (gap.seconds, gap.measure, gap.why) == (None, "unknown", BOOT_CLOCK_BACKWARD)


@pytest.mark.parametrize("synchronised", [False, None])
def test_rebooted_and_not_known_synchronised_is_unknown(synchronised: bool | None) -> None:
    gap = measure_gap(STOP, BootStamp("boot-2", 30.0), 4.0, synchronised, clean=True)
    assert (gap.seconds, gap.measure, gap.rebooted) == (None, "unknown", True)
    assert gap.describe() == f"an unknown time ({REBOOTED_UNSYNCHRONISED}; the wall clock says 4 s)"
    assert gap.to_json() == {
        "downtime_seconds": None,
        "gap_measure": "unknown",
        "wall_clock_seconds": 4.0,
        "rebooted": True,
        "clock_synchronised": synchronised,
        "gap_unknown_because": REBOOTED_UNSYNCHRONISED,
    }


def test_rebooted_and_synchronised_the_wall_clock() -> None:
    gap = measure_gap(STOP, BootStamp("boot-2", 30.0), 21600.0, True, clean=True)
    assert (gap.seconds, gap.measure) == (21600.0, "wall_clock")
    assert gap.describe() == "21600 s (wall clock, synchronised; rebooted while stopped)"
    behind = measure_gap(STOP, BootStamp("boot-2", 30.0), -1.0, True, clean=True)
    assert (behind.seconds, behind.why) == (None, WALL_CLOCK_BEHIND)


def test_no_boot_clock_on_either_side_the_wall_clock_never_below_zero() -> None:
    for marker, here in ((None, None), (STOP, None), (None, BootStamp("boot-1", 1003.0))):
        gap = measure_gap(marker, here, 3.0, None, clean=True)
        assert (gap.seconds, gap.measure, gap.rebooted) == (3.0, "wall_clock", None)
        assert gap.describe() == "3 s (wall clock)"
        behind = measure_gap(marker, here, -0.5, None, clean=True)
        assert (behind.seconds, behind.measure, behind.why) == (None, "unknown", WALL_CLOCK_BEHIND)


def test_after_an_unclean_stop_the_wall_clock_with_the_same_rules() -> None:
    """The newest record of a killed run is a reading, which has no boot stamp."""
    same = measure_gap(STOP, BootStamp("boot-1", 5000.0), 12.0, None, clean=False)
    assert (same.seconds, same.measure) == (12.0, "wall_clock")
    rebooted = measure_gap(STOP, BootStamp("boot-2", 30.0), 12.0, False, clean=False)
    assert (rebooted.seconds, rebooted.why) == (None, REBOOTED_UNSYNCHRONISED)
