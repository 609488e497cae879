"""Refusals reach the store in aggregate, on a FakeClock: per path, reason and source the first
of a minute at once, the rest summed into one event with their count when the window closes
(at the next refusal, by the periodic task, or at stop); every one counted; past
``max_sources`` open windows, new sources are summed under a catch-all."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from alarms.ack.refusals import OTHER_SOURCES, Reason, Refusal, RefusalLog
from monitor.core.clock import FakeClock
from monitor.core.metrics import Metrics
from monitor.core.model import Event


def refusal(
    clock: FakeClock,
    who: str = "203.0.113.9",
    reason: Reason = Reason.BAD_SIGNATURE,
    target: str | None = None,
    person: str | None = None,
) -> Refusal:
    return Refusal(clock.now(), "sms", reason, who, "invalid Twilio signature", person, target)


def summary(events: list[Event]) -> list[tuple[str, str, int]]:
    return [(e.data["reason"], e.data["who"], e.data["count"]) for e in events]


async def test_the_first_of_a_minute_at_once_the_rest_as_one_sum(clock: FakeClock) -> None:
    events: list[Event] = []
    each: list[Refusal] = []
    metrics = Metrics()
    log = RefusalLog(each.append, on_event=events.append, clock=clock, metrics=metrics)
    for n in range(500):
        log.record(refusal(clock, target=f"A10{n % 30:02d}"))
        await clock.advance(0.1)  # 50 s in all
    assert summary(events) == [("bad_signature", "203.0.113.9", 1)]
    assert len(each) == 500 and metrics.get("ack_refused") == 500
    assert metrics.get("ack_refused_bad_signature") == 500
    await clock.advance(11)  # the window has closed; the next refusal records its sum first
    log.record(refusal(clock))
    assert summary(events) == [
        ("bad_signature", "203.0.113.9", 1),
        ("bad_signature", "203.0.113.9", 499),
        ("bad_signature", "203.0.113.9", 1),
    ]
    total = events[1]
    assert total.kind == "ack_refused" and total.source == "ack.sms"
    assert total.data["first_at"] == (clock.now() - timedelta(seconds=60.9)).isoformat()
    assert len(total.data["alarms"]) == 20  # the first few distinct alarms named, bounded
    assert "499 more times from 203.0.113.9" in total.message


async def test_each_source_and_reason_has_its_own_window(clock: FakeClock) -> None:
    events: list[Event] = []
    log = RefusalLog(on_event=events.append, clock=clock)
    for _ in range(3):
        log.record(refusal(clock, "203.0.113.9"))
        log.record(refusal(clock, "203.0.113.10"))
        log.record(refusal(clock, "+4915112345678", Reason.WRONG_PIN, person="alice"))
    log.flush(everything=True)  # at stop
    assert summary(events) == [
        ("bad_signature", "203.0.113.9", 1),
        ("bad_signature", "203.0.113.10", 1),
        ("wrong_pin", "+4915112345678", 1),
        ("bad_signature", "203.0.113.9", 2),
        ("bad_signature", "203.0.113.10", 2),
        ("wrong_pin", "+4915112345678", 2),
    ]
    assert events[2].person == "alice" and events[5].person == "alice"
    assert events[3].person is None


async def test_the_periodic_task_closes_windows_without_another_refusal(
    clock: FakeClock,
) -> None:
    events: list[Event] = []
    log = RefusalLog(on_event=events.append, clock=clock)
    task = asyncio.create_task(log.run())
    try:
        for _ in range(10):
            log.record(refusal(clock))
        await clock.advance(30)
        assert summary(events) == [("bad_signature", "203.0.113.9", 1)]
        await clock.advance(40)
        assert summary(events) == [
            ("bad_signature", "203.0.113.9", 1),
            ("bad_signature", "203.0.113.9", 9),
        ]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_open_windows_are_bounded_and_the_rest_summed_under_a_catch_all(
    clock: FakeClock,
) -> None:
    events: list[Event] = []
    log = RefusalLog(on_event=events.append, clock=clock, max_sources=10)
    for n in range(1000):  # a thousand sources: ten recorded at once, the rest as one sum
        log.record(refusal(clock, f"198.51.100.{n}"))
    assert len(events) == 10
    log.flush(everything=True)
    assert len(events) == 11
    assert summary(events)[-1] == ("bad_signature", OTHER_SOURCES, 990)


async def test_a_failing_sink_is_logged_not_raised(clock: FakeClock) -> None:
    def broken(event: Event) -> None:
        raise OSError("database or disk is full")

    log = RefusalLog(on_event=broken, clock=clock)
    log.record(refusal(clock))  # does not raise: a refusal never becomes an error answer
