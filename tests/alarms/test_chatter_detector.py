"""Chattering, counted on the alarm point's own activations in a sliding window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alarms.config import ChatterSpec
from alarms.flood import ChatterDetector
from alarms.model import ConditionKind, Priority
from alarms.point import AlarmPoint
from alarms.rules.model import Rule

START = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def point() -> AlarmPoint:
    rule = Rule(
        "coldwatch/disk_low", "disk_low", ConditionKind.SYSTEM, "coldwatch", "x", Priority.HIGH, ""
    )
    return AlarmPoint(rule)


def test_the_third_activation_within_the_window_starts_chattering() -> None:
    detector = ChatterDetector(ChatterSpec(count=3, window=60.0))
    alarm = point()
    assert not detector.activated(alarm, at(0))
    assert not detector.activated(alarm, at(30))
    assert detector.due(alarm) is None  # not chattering yet
    assert detector.activated(alarm, at(59))
    assert alarm.chattering
    assert not detector.activated(alarm, at(61))  # already chattering: no new start
    assert list(alarm.activations) == [at(30), at(59), at(61)]  # at(0) left the window
    assert detector.due(alarm) == at(121)  # a whole window after the newest activation


def test_activations_spread_wider_than_the_window_never_chatter() -> None:
    detector = ChatterDetector(ChatterSpec(count=3, window=60.0))
    alarm = point()
    assert not any(detector.activated(alarm, at(seconds)) for seconds in (0, 40, 80, 120))
    assert not alarm.chattering and len(alarm.activations) == 2


def test_chattering_ends_after_a_whole_window_without_an_activation() -> None:
    detector = ChatterDetector(ChatterSpec(count=2, window=60.0))
    alarm = point()
    detector.activated(alarm, at(0))
    assert detector.activated(alarm, at(10))
    assert not detector.check(alarm, at(60))  # at(0) left the window, at(10) has not
    assert alarm.chattering and detector.due(alarm) == at(70)
    assert detector.check(alarm, at(70))  # nothing within the last minute
    assert not alarm.chattering and detector.due(alarm) is None
    assert not detector.check(alarm, at(71))  # ended once


def test_an_alarm_toggling_at_the_windows_pace_chatters_once() -> None:
    """Three activations a minute apart at most: the count in the window goes 3, 2, 3, 2 ...
    around every activation; the alarm chatters from the third until it stops."""
    detector = ChatterDetector(ChatterSpec(count=3, window=60.0))
    alarm = point()
    starts = [detector.activated(alarm, at(t)) for t in range(0, 600, 25)]
    checks = [detector.check(alarm, at(t + 24)) for t in range(0, 600, 25)]
    assert starts.count(True) == 1 and checks.count(True) == 0
    assert detector.check(alarm, at(575 + 60))
