"""The PIN lockout as a timeline on the FakeClock: N failures within the window lock for the
duration from the last one; failures spread wider than the window never lock; a right PIN
clears the count; keys are independent."""

from __future__ import annotations

import pytest

from alarms.ack.lockout import PinLockout
from monitor.core.clock import FakeClock

PHONE = "+4915112345678"


async def test_five_failures_in_fifteen_minutes_lock_for_fifteen(clock: FakeClock) -> None:
    lock = PinLockout(clock, attempts=5, window=900, duration=900)
    for minute in range(4):
        assert lock.failed(PHONE) is False
        assert lock.tries_left(PHONE) == 4 - minute
        await clock.advance(60)
    assert lock.failed(PHONE) is True  # t = 4 min: the fifth
    assert lock.remaining(PHONE) == 900 and lock.tries_left(PHONE) == 0
    assert lock.failed(PHONE) is False  # counting while locked does not extend it
    await clock.advance(899)
    assert lock.remaining(PHONE) == pytest.approx(1)
    assert lock.remaining("+4915187654321") == 0  # another phone is not affected
    await clock.advance(1)
    assert lock.remaining(PHONE) == 0
    assert lock.tries_left(PHONE) == 5  # a fresh start after the lock


async def test_failures_spread_wider_than_the_window_never_lock(clock: FakeClock) -> None:
    lock = PinLockout(clock, attempts=3, window=600, duration=600)
    for _ in range(10):
        assert lock.failed(PHONE) is False
        await clock.advance(301)  # at most two within any 600 s
    assert lock.remaining(PHONE) == 0


async def test_a_right_pin_clears_the_count(clock: FakeClock) -> None:
    lock = PinLockout(clock, attempts=3, window=900, duration=900)
    lock.failed(PHONE)
    lock.failed(PHONE)
    lock.succeeded(PHONE)
    assert lock.tries_left(PHONE) == 3
    assert lock.failed(PHONE) is False


async def test_clear_unlocks_at_once(clock: FakeClock) -> None:
    lock = PinLockout(clock, attempts=1, window=60, duration=3600)
    assert lock.failed(PHONE) is True
    lock.clear(PHONE)
    assert lock.remaining(PHONE) == 0


def test_settings_are_checked(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="attempts"):
        PinLockout(clock, attempts=0)
