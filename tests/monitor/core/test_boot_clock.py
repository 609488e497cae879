"""The boot clock: this boot's id and CLOCK_BOOTTIME, as kept in the run markers."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from monitor.core.boot_clock import BOOT_ID_FILE, BootStamp, FakeBootClock, read_boot_stamp
from monitor.core.clock import FakeClock


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux has a boot clock")
def test_this_machine_has_one_and_it_moves_with_boottime() -> None:
    first = read_boot_stamp()
    time.sleep(0.05)
    second = read_boot_stamp()
    assert first is not None and second is not None
    assert first.boot_id == second.boot_id == BOOT_ID_FILE.read_text().strip()
    assert 0.04 <= second.since_boot - first.since_boot < 5.0
    assert abs(second.since_boot - time.clock_gettime(time.CLOCK_BOOTTIME)) < 5.0


def test_no_boot_id_no_stamp(tmp_path: Path) -> None:
    assert read_boot_stamp(tmp_path / "missing") is None
    empty = tmp_path / "boot_id"
    empty.write_text("\n")
    assert read_boot_stamp(empty) is None
    empty.write_bytes(b"\xff\xfe")
    assert read_boot_stamp(empty) is None


def test_a_stamp_reads_back_and_junk_does_not() -> None:
    stamp = BootStamp("37741db8-c6d1-404f-a1b7-6530953ee38f", 1234.5678901234)
    assert BootStamp.from_json(stamp.to_json()) == BootStamp(stamp.boot_id, 1234.56789)
    for junk in (
        None,
        "boot",
        {},
        {"boot_id": "", "since_boot": 1.0},
        {"boot_id": "a", "since_boot": "1"},
        {"boot_id": "a", "since_boot": True},
        {"boot_id": "a", "since_boot": -1.0},
        {"boot_id": 7, "since_boot": 1.0},
    ):
        assert BootStamp.from_json(junk) is None, junk


async def test_the_fake_moves_with_monotonic_time_not_the_wall_clock(clock: FakeClock) -> None:
    boot = FakeBootClock(clock, "boot-1", since_boot=100.0)
    await clock.advance(60)
    clock.step_wall(-3600)
    assert boot() == BootStamp("boot-1", 160.0)
    boot.reboot("boot-2", since_boot=20.0)
    await clock.advance(5)
    assert boot() == BootStamp("boot-2", 25.0)
    boot.available = False
    assert boot() is None
