"""The chart's series (monitor/app/web/chart_data.py): raw or roll-up by span, and every gap a
None between its two sides, never a line drawn across it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.app.web.chart_data import bucket_minutes, raw_series, rollup_series
from monitor.core.model import Quality, Reading
from monitor.store.sqlite_rollup import MINUTE_US, RollupBucket

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "minutes"),
    [
        (timedelta(hours=1), None),
        (timedelta(hours=3), None),
        (timedelta(hours=24), 1),
        (timedelta(days=7), 10),
        (timedelta(days=30), 30),
        (timedelta(days=400), 720),
    ],
)
def test_raw_up_to_three_hours_then_at_most_1500_buckets(
    span: timedelta, minutes: int | None
) -> None:
    assert bucket_minutes(span) == minutes


def test_raw_series_breaks_at_bad_samples_text_and_silences() -> None:
    at = [T0 + timedelta(seconds=s) for s in (0, 10, 20, 60, 70, 80)]
    readings = [
        Reading.good("c", at[0], -80.0),
        Reading.bad("c", at[1], Quality.COMM_ERROR, "timeout"),
        Reading.good("c", at[2], -79.0),
        Reading.good("c", at[3], -78.0),  # 40 s after the last: more than 3 x 10 s
        Reading.good("c", at[4], "OK"),  # not a number
        Reading.good("c", at[5], True),
    ]
    series = raw_series(readings, interval=10.0)
    t0 = T0.timestamp()
    assert list(zip(series.t, series.v, strict=True)) == [
        (t0, -80.0),
        (t0 + 10, None),
        (t0 + 20, -79.0),
        (t0 + 40, None),  # the silence, halfway
        (t0 + 60, -78.0),
        (t0 + 70, None),
        (t0 + 80, 1.0),
    ]
    assert series.bad == 2


def bucket(minute: int, n: int, bad: int = 0, value: float = -80.0) -> RollupBucket:
    start = int(T0.timestamp()) * 1_000_000 + minute * MINUTE_US
    return RollupBucket(start, n, value if n else None, value if n else None,
                        value if n else None, bad)  # fmt: skip


def test_rollup_series_draws_a_bucket_only_when_good_readings_outvote_bad_ones() -> None:
    series = rollup_series(
        [bucket(0, 6), bucket(1, 5, bad=1), bucket(2, 2, bad=4), bucket(3, 0, bad=6), bucket(4, 6)],
        minutes=1,
        interval=10.0,
    )
    assert series.v == [-80.0, -80.0, None, None, -80.0]
    assert series.bad == 11


def test_rollup_series_breaks_where_minutes_are_missing() -> None:
    series = rollup_series([bucket(0, 6), bucket(1, 6), bucket(5, 6)], minutes=1, interval=10.0)
    assert series.v == [-80.0, -80.0, None, -80.0]
    assert series.t[2] == pytest.approx(T0.timestamp() + 30 + 180)  # between minutes 1 and 5
