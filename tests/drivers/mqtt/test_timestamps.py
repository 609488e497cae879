"""Device timestamps: the formats a payload may carry, and the window a timestamp must fall in
(drivers/mqtt/timestamps.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drivers.mqtt.payload import PayloadError, parse_timestamp
from drivers.mqtt.timestamps import Window

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_timestamp_formats() -> None:
    assert parse_timestamp("2026-03-01T12:00:00Z", "iso8601") == T0
    assert parse_timestamp("2026-03-01T13:00:00+01:00", "iso8601") == T0
    assert parse_timestamp(T0.timestamp(), "epoch_s") == T0
    assert parse_timestamp(str(int(T0.timestamp() * 1000)), "epoch_ms") == T0
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    assert parse_timestamp("2026-03-01T13:00:00", "iso8601", berlin) == T0
    for raw, fmt in (
        ("2026-03-01T12:00:00", "iso8601"),  # no offset, no zone configured
        ("yesterday", "iso8601"),
        (1e300, "epoch_s"),
        (True, "epoch_s"),
        ("12:00", "epoch_ms"),
        (1700000000, "iso8601"),
    ):
        with pytest.raises(PayloadError) as info:
            parse_timestamp(raw, fmt)  # type: ignore[arg-type]
        assert info.value.kind == "bad_timestamp"


def test_timestamp_window() -> None:
    window = Window(max_backfill=3600, max_future_skew=30, late_after=60)
    assert window.judge(T0, T0).accepted
    late = window.judge(T0 - timedelta(minutes=10), T0)
    assert late.accepted and late.late
    assert not window.judge(T0 - timedelta(hours=2), T0).accepted
    ahead = window.judge(T0 + timedelta(minutes=5), T0)
    assert not ahead.accepted and "300 s in the future" in ahead.describe(window)
    assert window.judge(T0 + timedelta(seconds=20), T0).accepted
