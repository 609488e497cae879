"""Delivery as timelines on virtual time: retry with backoff, fallback to the next channel,
the notification log before and after each attempt, dedup, and recovery after a crash."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alarms.notify.base import DeliveryResult, NotifyError
from alarms.notify.delivery import Delivery, RetryPolicy
from alarms.notify.notification_log import MemoryLog, NotificationLog
from alarms.people import Directory, Group
from alarms.records.notification_log import SQLiteLog
from monitor.core.clock import FakeClock
from tests.support.notify import ScriptedNotifier, notification, person
from tests.support.paths import REPO

ROOT = REPO
POLICY = RetryPolicy(attempts=3, initial_backoff=10, factor=2, max_backoff=60, timeout=30)
ALICE = person("alice", ("sms", "phone"))
BOB = person("bob", ("sms",))


def retryable(text: str = "HTTP 503", unknown: bool = False) -> NotifyError:
    return NotifyError(text, retryable=True, outcome_unknown=unknown)


def permanent(text: str = "invalid number") -> NotifyError:
    return NotifyError(text, retryable=False)


def steps(log: NotificationLog, key: str, who: str) -> list[tuple[str, int, str, bool]]:
    """(channel, attempt, status, possible_duplicate) of one delivery."""
    return [(r.channel, r.attempt, r.status, r.possible_duplicate) for r in log.history(key, who)]


def pipeline(
    clock: FakeClock, log: NotificationLog | None = None, **scripts: list[Any]
) -> tuple[Delivery, dict[str, ScriptedNotifier]]:
    notifiers = {name: ScriptedNotifier(clock, list(script)) for name, script in scripts.items()}
    return Delivery(notifiers, log or MemoryLog(), clock, policy=POLICY), notifiers


async def test_retry_with_exponential_backoff(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[retryable(), retryable()], phone=[])
    n = notification()
    task = asyncio.create_task(delivery.deliver(n, ALICE))
    await clock.advance(9.9)
    assert [t for t, _, _ in notifiers["sms"].calls] == [0.0]
    await clock.advance(0.1)
    assert [t for t, _, _ in notifiers["sms"].calls] == [0.0, 10.0]
    await clock.advance(20.0)
    outcome = await task
    assert [t for t, _, _ in notifiers["sms"].calls] == [0.0, 10.0, 30.0]
    assert notifiers["phone"].calls == []
    assert outcome.ok and outcome.channel == "sms" and outcome.provider_id == "id-3"
    assert steps(delivery.log, n.key, "alice") == [
        ("sms", 1, "pending", False),
        ("sms", 1, "failed", False),
        ("sms", 2, "pending", False),
        ("sms", 2, "failed", False),
        ("sms", 3, "pending", False),
        ("sms", 3, "sent", False),
    ]
    failed = [r for r in delivery.log.history(n.key, "alice") if r.status == "failed"]
    assert all(r.retryable and not r.final and r.error == "HTTP 503" for r in failed)


async def test_backoff_is_capped(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[retryable()] * 4)
    delivery.policy = RetryPolicy(attempts=5, initial_backoff=10, factor=2, max_backoff=25)
    task = asyncio.create_task(delivery.deliver(notification(), BOB))
    await clock.advance(100)
    assert (await task).ok
    assert [t for t, _, _ in notifiers["sms"].calls] == [0.0, 10.0, 30.0, 55.0, 80.0]


async def test_not_retryable_falls_back_at_once(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[permanent("HTTP 400, error 21211")], phone=[])
    n = notification()
    outcome = await delivery.deliver(n, ALICE)
    assert outcome.ok and outcome.channel == "phone"
    assert outcome.errors == ("sms: HTTP 400, error 21211",)
    assert [t for t, _, _ in notifiers["phone"].calls] == [0.0]
    assert steps(delivery.log, n.key, "alice") == [
        ("sms", 1, "pending", False),
        ("sms", 1, "failed", False),
        ("phone", 1, "pending", False),
        ("phone", 1, "sent", False),
    ]
    assert delivery.log.history(n.key, "alice")[1].final


async def test_fallback_after_the_retries_are_spent(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[retryable()] * 3, phone=[])
    task = asyncio.create_task(delivery.deliver(notification(), ALICE))
    await clock.advance(29.9)
    assert notifiers["phone"].calls == []
    await clock.advance(0.1)
    outcome = await task
    assert [t for t, _, _ in notifiers["sms"].calls] == [0.0, 10.0, 30.0]
    assert [t for t, _, _ in notifiers["phone"].calls] == [30.0]
    assert outcome.channel == "phone"


async def test_every_channel_failing_is_recorded_and_not_retried_later(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[permanent()], phone=[permanent("busy line")])
    n = notification()
    outcome = await delivery.deliver(n, ALICE)
    assert not outcome.ok
    assert outcome.errors == ("sms: invalid number", "phone: busy line")
    last = delivery.log.history(n.key, "alice")[-1]
    assert (last.status, last.channel) == ("exhausted", "*")
    again = await delivery.deliver(n, ALICE)
    assert again.deduplicated and not again.ok and again.errors == outcome.errors
    assert len(notifiers["sms"].calls) == len(notifiers["phone"].calls) == 1


async def test_a_delivered_notification_is_never_sent_again(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[])
    n = notification()
    first = await delivery.deliver(n, BOB)
    second = await delivery.deliver(n.model_copy(update={"late": True}), BOB)
    assert second.deduplicated and second.ok and second.provider_id == first.provider_id
    assert len(notifiers["sms"].calls) == 1
    other = await delivery.deliver(notification(kind="escalated", tier=2), BOB)
    assert not other.deduplicated and len(notifiers["sms"].calls) == 2


async def test_concurrent_requests_for_the_same_page_send_once(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[])
    n = notification()
    outcomes = await asyncio.gather(*(delivery.deliver(n, BOB) for _ in range(3)))
    assert len(notifiers["sms"].calls) == 1
    assert sorted(o.deduplicated for o in outcomes) == [False, True, True]
    assert delivery._locks == {}


async def test_a_hanging_notifier_times_out_and_the_retry_is_a_possible_duplicate(
    clock: FakeClock,
) -> None:
    delivery, notifiers = pipeline(clock, sms=["hang"])
    n = notification()
    task = asyncio.create_task(delivery.deliver(n, BOB))
    await clock.advance(30)  # the per-attempt timeout
    await clock.advance(10)  # the backoff
    outcome = await task
    assert outcome.ok
    (_, first, _), (t2, second, _) = notifiers["sms"].calls
    assert not first.possible_duplicate and second.possible_duplicate and t2 == 40.0
    history = delivery.log.history(n.key, "bob")
    assert history[1].status == "failed" and history[1].outcome_unknown
    assert history[1].error == "timed out after 30 s"
    assert [r.possible_duplicate for r in history[2:]] == [True, True]


async def test_a_notifier_bug_is_retried(clock: FakeClock, caplog: Any) -> None:
    class Buggy(ScriptedNotifier):
        async def send(self, notification: Any, target: Any) -> DeliveryResult:
            self.calls.append((self.clock.monotonic(), notification, target.id))
            if len(self.calls) == 1:
                raise KeyError("oops")
            return DeliveryResult("ok")

    delivery = Delivery({"sms": Buggy(clock)}, MemoryLog(), clock, policy=POLICY)
    task = asyncio.create_task(delivery.deliver(notification(), BOB))
    with caplog.at_level(logging.ERROR):
        await clock.advance(10)
    assert (await task).ok
    assert "notifier sms raised KeyError" in caplog.text


async def test_an_unknown_channel_falls_back(clock: FakeClock) -> None:
    delivery, _ = pipeline(clock, phone=[])
    outcome = await delivery.deliver(notification(), ALICE)
    assert outcome.channel == "phone"
    assert outcome.errors == ("sms: no notifier named 'sms' is configured",)


async def test_channels_can_be_chosen_per_notification(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[permanent()], phone=[])
    outcome = await delivery.deliver(notification(kind="acknowledged"), ALICE, channels=["sms"])
    assert not outcome.ok and notifiers["phone"].calls == []


async def test_deliver_to_targets_pages_everyone_once(clock: FakeClock) -> None:
    carol = person("carol", ("sms",))
    directory = Directory([ALICE, BOB, carol], [Group(id="night", members=("alice", "bob"))])
    delivery, notifiers = pipeline(clock, sms=[], phone=[])
    outcomes = await delivery.deliver_to(
        notification(), ["group:night", "person:alice", "person:carol"], directory
    )
    assert [o.person_id for o in outcomes] == ["alice", "bob", "carol"]
    assert sorted(who for _, _, who in notifiers["sms"].calls) == ["alice", "bob", "carol"]
    with pytest.raises(KeyError, match="unknown target"):
        await delivery.deliver_to(notification(), ["schedule:x"], directory)


async def test_close_closes_every_notifier(clock: FakeClock) -> None:
    delivery, notifiers = pipeline(clock, sms=[], phone=[])
    await delivery.aclose()
    assert all(n.closed for n in notifiers.values())


# --- crashes and recovery ----------------------------------------------------------------


async def _interrupted(delivery: Delivery, notifier: ScriptedNotifier, n: Any, who: Any) -> None:
    """Start a delivery, wait until the notifier is sending, then drop it on the floor."""
    notifier.entered.clear()
    task = asyncio.create_task(delivery.deliver(n, who))
    await notifier.entered.wait()
    task.cancel()  # like a crash: the intent is in the log, the outcome is not
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_rebuilt_from_the_log_a_page_in_flight_is_sent_once_more(
    clock: FakeClock, tmp_path: Path, kind: str
) -> None:
    def open_log() -> NotificationLog:
        return MemoryLog() if kind == "memory" else SQLiteLog(tmp_path / "store.db")

    log = open_log()
    directory = Directory([ALICE, BOB, person("carol", ("sms",))])
    first, _ = pipeline(clock, log, sms=[DeliveryResult("SM-bob"), permanent(), "hang"])
    n = notification()
    await first.deliver(n, BOB)  # completed: sent
    await first.deliver(n, directory.people["carol"])  # completed: exhausted
    await _interrupted(first, first.notifiers["sms"], n, ALICE)  # type: ignore[arg-type]
    assert log.unfinished() == [(n.key, "alice")]

    if kind == "sqlite":  # a new process opens the same file
        log.close()
        log = open_log()
    await clock.advance(600)
    second, notifiers = pipeline(clock, log, sms=[], phone=[])
    outcomes = await second.recover(directory)
    assert [(o.person_id, o.ok, o.channel) for o in outcomes] == [("alice", True, "sms")]
    ((_, resent, who),) = notifiers["sms"].calls
    assert who == "alice" and resent.possible_duplicate and resent.late
    assert resent.key == n.key
    assert steps(log, n.key, "alice") == [
        ("sms", 1, "pending", False),
        ("sms", 2, "pending", True),
        ("sms", 2, "sent", True),
    ]
    assert await second.recover(directory) == []
    assert (await second.deliver(n, ALICE)).deduplicated
    assert (await second.deliver(n, BOB)).deduplicated
    assert len(notifiers["sms"].calls) == 1
    log.close()


async def test_unknown_twice_gives_the_channel_up(clock: FakeClock) -> None:
    log = MemoryLog()
    n = notification()
    for _ in range(2):  # the first send and its resend both interrupted
        delivery, notifiers = pipeline(clock, log, sms=["hang"])
        await _interrupted(delivery, notifiers["sms"], n, ALICE)
    last, notifiers = pipeline(clock, log, sms=[], phone=[])
    (outcome,) = await last.recover(Directory([ALICE]))
    assert outcome.ok and outcome.channel == "phone"
    assert notifiers["sms"].calls == []
    assert [(c, a, s) for c, a, s, _ in steps(log, n.key, "alice")] == [
        ("sms", 1, "pending"),
        ("sms", 2, "pending"),
        ("sms", 2, "failed"),
        ("phone", 1, "pending"),
        ("phone", 1, "sent"),
    ]


async def test_a_crash_during_backoff_resumes_the_retries(clock: FakeClock) -> None:
    log = MemoryLog()
    n = notification()
    delivery, _ = pipeline(clock, log, sms=[retryable()])
    task = asyncio.create_task(delivery.deliver(n, BOB))
    await clock.advance(1)  # attempt 1 failed, now waiting 10 s
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    again, notifiers = pipeline(clock, log, sms=[])
    (outcome,) = await again.recover(Directory([BOB]))
    assert outcome.ok
    ((_, sent, _),) = notifiers["sms"].calls
    assert not sent.possible_duplicate  # attempt 1's failure was known: nothing can repeat
    assert [(a, s) for _, a, s, _ in steps(log, n.key, "bob")][-2:] == [(2, "pending"), (2, "sent")]


async def test_recovery_skips_what_is_no_longer_wanted(clock: FakeClock) -> None:
    log = MemoryLog()
    n = notification()
    delivery, notifiers = pipeline(clock, log, sms=["hang", "hang"])
    await _interrupted(delivery, notifiers["sms"], n, ALICE)
    await _interrupted(delivery, notifiers["sms"], n, BOB)
    again, fresh = pipeline(clock, log, sms=[])
    outcomes = await again.recover(Directory([BOB]), wanted=lambda x: x.alarm_id != "A1007")
    assert outcomes == [] and fresh["sms"].calls == []
    reasons = {r.person_id: r.error for r in log.records() if r.status == "exhausted"}
    assert reasons == {
        "alice": "not resent after restart: person no longer configured",
        "bob": "not resent after restart: no longer wanted",
    }
    assert log.unfinished() == []


async def test_recovery_of_a_recent_page_is_not_late(clock: FakeClock) -> None:
    log = MemoryLog()
    clock_now = FakeClock(notification().event_at)
    delivery, notifiers = pipeline(clock_now, log, sms=["hang"])
    await _interrupted(delivery, notifiers["sms"], notification(), BOB)
    again, fresh = pipeline(clock_now, log, sms=[])
    await again.recover(Directory([BOB]))
    assert not fresh["sms"].calls[0][1].late


CHILD = """
import asyncio, pathlib, sys
from alarms.notify.delivery import Delivery
from alarms.records.notification_log import SQLiteLog
from monitor.core.clock import SystemClock
from tests.support.notify import notification, person

class Hanging:
    async def send(self, n, target):
        pathlib.Path(sys.argv[2]).write_text("sending")
        await asyncio.Event().wait()

    async def aclose(self):
        pass

async def main():
    delivery = Delivery({"sms": Hanging()}, SQLiteLog(sys.argv[1]), SystemClock())
    await delivery.deliver(notification(), person("alice", ("sms", "phone")))

asyncio.run(main())
"""


async def test_killed_mid_send_the_page_is_resent_once_from_the_sqlite_file(
    clock: FakeClock, tmp_path: Path
) -> None:
    db, marker = tmp_path / "coldwatch.db", tmp_path / "sending"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(db), str(marker), env=env
    )
    try:
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(marker.exists):
            assert child.returncode is None, "the child died before sending"
            assert time.monotonic() < deadline, "the child never started sending"
            await asyncio.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)  # no finally blocks, no flush: a crash
        await child.wait()
    log = SQLiteLog(db)
    try:
        n = notification()
        assert [(r.status, r.attempt) for r in log.history(n.key, "alice")] == [("pending", 1)]
        delivery, notifiers = pipeline(clock, log, sms=[])
        (outcome,) = await delivery.recover(Directory([ALICE]))
        assert outcome.ok
        assert [c[1].possible_duplicate for c in notifiers["sms"].calls] == [True]
        assert await delivery.recover(Directory([ALICE])) == []
    finally:
        log.close()


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    assert [RetryPolicy().backoff(a) for a in (1, 2, 3, 4, 5)] == [10, 20, 40, 80, 120]
