"""The PIN lockout survives a restart: kept in ``ack_lockout_log`` in the store's file and read
back at start, on the same FakeClock. A locked phone stays locked across a rebuild of the
acknowledgement services and is unlocked when its time is up; a count of wrong PINs carries
over, a right PIN's reset too; rows older than the window are not read; the table is
append-only and grows only by what the lockout itself bounds."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from alarms.ack.config import AckConfig
from alarms.ack.lockout import PinLockout
from alarms.ack.refusals import Refusal
from alarms.ack.services import AckServices
from alarms.model import AlarmState
from alarms.people import Directory
from alarms.records.lockout_log import LockoutRow, SQLiteLockoutLog
from monitor.core.clock import FakeClock
from monitor.store.sqlite import SQLiteStore
from monitor.store.sqlite_schema import APPEND_ONLY_MESSAGE
from tests.support.ack import (
    ALICE_PHONE,
    BOB_PHONE,
    Stack,
    people,
    stack_fixture,  # noqa: F401  (the stack fixture)
)
from tests.support.alarm_engine import KEY

PHONE = "+4915112345678"


def lockout(clock: FakeClock, path: Path, **kw: float) -> PinLockout:
    settings = {"attempts": 5, "window": 900.0, "duration": 900.0, **kw}
    return PinLockout(
        clock,
        int(settings["attempts"]),
        settings["window"],
        settings["duration"],
        SQLiteLockoutLog(path),
    )


def rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return [
            (str(k), str(a))
            for k, a in conn.execute("SELECT lock_key, action FROM ack_lockout_log ORDER BY seq")
        ]


async def test_a_lock_survives_a_restart_and_ends_on_time(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    first = lockout(clock, path)
    for _ in range(4):
        assert first.failed(PHONE) is False
        await clock.advance(60)
    assert first.failed(PHONE) is True  # t = 4 min: locked until t = 19 min
    assert first.record is not None
    first.record.close()  # the daemon is gone
    await clock.advance(60)
    second = lockout(clock, path)  # t = 5 min
    assert second.remaining(PHONE) == pytest.approx(14 * 60)
    assert second.tries_left(PHONE) == 0 and second.remaining(BOB_PHONE) == 0
    assert second.failed(PHONE) is False  # not counted while locked: no row either
    await clock.advance(14 * 60)
    assert second.remaining(PHONE) == 0 and second.tries_left(PHONE) == 5
    assert rows(path) == [(PHONE, "failed")] * 5 + [(PHONE, "locked")]


async def test_the_count_and_its_reset_carry_over(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    first = lockout(clock, path)
    for _ in range(3):
        first.failed(PHONE)
        first.failed(BOB_PHONE)
    first.succeeded(BOB_PHONE)  # Bob got it right in the end: his count is cleared
    first.succeeded(BOB_PHONE)  # nothing left to clear: no row
    await clock.advance(60)
    second = lockout(clock, path)
    assert second.tries_left(PHONE) == 2 and second.tries_left(BOB_PHONE) == 5
    assert second.failed(PHONE) is False
    assert second.failed(PHONE) is True  # the fifth, counting the three before the restart
    assert rows(path).count((BOB_PHONE, "reset")) == 1


async def test_only_the_window_is_read_back(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    first = lockout(clock, path, attempts=3, window=600, duration=300)
    first.failed(PHONE)
    first.failed(PHONE)
    await clock.advance(601)  # both out of the window
    second = lockout(clock, path, attempts=3, window=600, duration=300)
    assert second.tries_left(PHONE) == 3
    assert second.failed(PHONE) is False


async def test_a_lock_is_never_longer_than_the_duration_now_configured(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "cw.db"
    log = SQLiteLockoutLog(path)
    now = clock.now()
    log.append(
        [
            # written with a 24 h duration, and by a clock that was an hour ahead
            LockoutRow(now + timedelta(hours=1), PHONE, "locked", now + timedelta(hours=25)),
            LockoutRow(now - timedelta(minutes=10), BOB_PHONE, "locked", now + timedelta(hours=1)),
        ]
    )
    log.close()
    lock = lockout(clock, path)
    assert lock.remaining(PHONE) == pytest.approx(900)  # from now, not from the future
    assert lock.remaining(BOB_PHONE) == pytest.approx(300)  # 15 min from when it began


async def test_an_administrators_unlock_is_kept(clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    first = lockout(clock, path, attempts=1)
    assert first.failed(PHONE) is True
    first.clear(PHONE)
    second = lockout(clock, path, attempts=1)
    assert second.remaining(PHONE) == 0


def test_the_table_is_append_only(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "cw.db"
    lockout(clock, path).failed(PHONE)
    with sqlite3.connect(path) as conn:
        for statement in (
            "UPDATE ack_lockout_log SET action = 'reset'",
            "DELETE FROM ack_lockout_log",
        ):
            with pytest.raises(sqlite3.DatabaseError, match=APPEND_ONLY_MESSAGE):
                conn.execute(statement)
    assert rows(path) == [(PHONE, "failed")]


async def test_a_record_that_cannot_be_written_leaves_the_lockout_in_memory(
    clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = lockout(clock, tmp_path / "cw.db", attempts=2)
    assert lock.record is not None
    lock.record.close()
    with caplog.at_level(logging.ERROR, logger="alarms.ack"):
        assert lock.failed(PHONE) is False
        assert lock.failed(PHONE) is True
    assert lock.remaining(PHONE) == 900
    assert sum("could not be recorded" in r.getMessage() for r in caplog.records) == 1


async def test_rebuilt_services_on_the_same_store_file_keep_the_phone_locked(
    stack: Stack, tmp_path: Path
) -> None:
    """What a daemon restart does: the acknowledgement services built again on the store's
    file (the engine's store, opened first) and the same clock."""
    store_file = stack.harness.store.path
    assert store_file == tmp_path / "cw.db"
    config = AckConfig.model_validate(
        {
            "lockout": {"attempts": 3, "window": "15m", "duration": "15m"},
            "control_socket": {"enabled": False},
        }
    )
    clock, code = stack.clock, stack.code
    refused: list[Refusal] = []

    def build() -> AckServices:
        return AckServices(
            config,
            stack.harness.engine,
            Directory(people()),
            clock,
            store_file,
            on_refused=refused.append,
        )

    first = build()
    await first.start()
    for _ in range(3):
        first.service.sms(ALICE_PHONE, f"ACK {code} 1111 moved")
        await clock.advance(60)
    await first.stop()  # t = 3 min; locked since t = 2 min until t = 17 min
    second = build()
    await second.start()
    try:
        outcome = second.service.sms(ALICE_PHONE, f"ACK {code} 4711 moved to BF-02")
        assert not outcome.ok and outcome.locked
        assert outcome.reply.startswith("Not acknowledged: too many wrong PINs from this phone")
        assert "14 min" in outcome.reply
        assert stack.harness.view(KEY).state is AlarmState.UNACK
        assert [r.reason.value for r in refused] == ["wrong_pin"] * 3 + ["locked_out"]
        await clock.advance(14 * 60)  # t = 17 min: the lock is over
        done = second.service.sms(ALICE_PHONE, f"ACK {code} 4711 moved to BF-02")
        assert done.ok and done.reply == f"{code} acknowledged by Alice Meyer: moved to BF-02"
        assert stack.acks() == [("alice", "sms", "moved to BF-02")]
    finally:
        await second.stop()
    # the store's file still opens as a store: the side table does not disturb it
    again = SQLiteStore(store_file, now=clock.now)
    again.open()
    try:
        assert [r.action for r in again.alarm_records(key=KEY)][-1] == "acknowledged"
    finally:
        again.close()
