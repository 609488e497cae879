"""Which boot this is, and how long since it: a clock for gaps that the wall clock cannot measure.

The wall clock is not to be trusted across a stop: a Raspberry Pi without a real-time clock
(fake-hwclock) boots at the time it shut down and keeps it until NTP answers, so "now minus the
last record" can read a few seconds, or less than zero, after hours powered off. Linux gives two
things that do not depend on it: the kernel's boot id (``/proc/sys/kernel/random/boot_id``,
new at every boot) and ``CLOCK_BOOTTIME`` (seconds since that boot, counting suspend, never
stepped). Two stamps of the same boot differ by the time between them, whatever the wall clock
did; stamps of different boots say that the machine rebooted in between, and no more.

The daemon reads them through a :data:`BootClock` (injected, so that tests run timelines on
:class:`FakeBootClock`); where they do not exist (not Linux) it reads None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.core.clock import FakeClock

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class BootStamp:
    """One reading of the boot clock: ``boot_id``, and ``since_boot`` seconds of
    ``CLOCK_BOOTTIME`` (comparable only with a stamp of the same boot id)."""

    boot_id: str
    since_boot: float

    def to_json(self) -> dict[str, Any]:
        return {"boot_id": self.boot_id, "since_boot": round(self.since_boot, 6)}

    @staticmethod
    def from_json(data: Any) -> BootStamp | None:
        """The stamp kept in a run marker's data; None when there is none or it cannot be read
        (a marker written by an older version or on another system, a damaged row)."""
        if not isinstance(data, dict):
            return None
        boot_id, since = data.get("boot_id"), data.get("since_boot")
        if not isinstance(boot_id, str) or not boot_id or isinstance(since, bool):
            return None
        if not isinstance(since, int | float) or since < 0:
            return None
        return BootStamp(boot_id, float(since))


BootClock = Callable[[], BootStamp | None]
"""Reads the boot clock now; None where there is none."""


def read_boot_stamp(boot_id_file: Path = BOOT_ID_FILE) -> BootStamp | None:
    """The kernel's boot id and ``CLOCK_BOOTTIME``; None where either is missing."""
    clock_id = getattr(time, "CLOCK_BOOTTIME", None)
    if clock_id is None:
        return None
    try:
        boot_id = boot_id_file.read_text(encoding="ascii").strip()
        since = time.clock_gettime(clock_id)
    except (OSError, UnicodeDecodeError):
        return None
    return BootStamp(boot_id, since) if boot_id else None


class FakeBootClock:
    """The boot clock of a test's timeline: ``since_boot`` moves with ``clock``'s monotonic
    time (not its wall time, which a test may step); :meth:`reboot` starts a new boot."""

    def __init__(self, clock: FakeClock, boot_id: str = "boot-1", since_boot: float = 100.0):
        self.clock = clock
        self.available = True
        self._boot_id = boot_id
        self._offset = since_boot - clock.monotonic()

    def __call__(self) -> BootStamp | None:
        if not self.available:
            return None
        return BootStamp(self._boot_id, self.clock.monotonic() + self._offset)

    def reboot(self, boot_id: str, since_boot: float = 20.0) -> None:
        """A new boot, ``since_boot`` seconds old at the clock's present monotonic time."""
        self._boot_id = boot_id
        self._offset = since_boot - self.clock.monotonic()
