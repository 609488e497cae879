"""The live values: the newest reading per configured channel, the device up/down events,
and the trend over the last ten minutes from samples taken at most every 30 s."""

from __future__ import annotations

from datetime import datetime

from monitor.core.metrics import Metrics
from monitor.core.model import Event, EventKind, Quality, Reading
from monitor.runtime.live import TREND_STEP, LiveValues, Trend
from monitor.runtime.pipeline import Pipeline
from tests.support.dashboard import at, bad, good, small_site

CAB = "freezer-1.cabinet"


def test_the_newest_reading_per_channel_and_only_configured_channels() -> None:
    live = LiveValues(small_site())
    live.on_reading(good(CAB, at(0), -80.0))
    live.on_reading(good(CAB, at(10), -79.9))
    live.on_reading(good("elsewhere.x", at(10), 1.0))
    snap = live.snapshot()
    assert set(snap) == {CAB, "freezer-2.cabinet", "dewar-1.vapour"}
    reading = snap[CAB].reading
    assert reading is not None and reading.value == -79.9
    assert snap["dewar-1.vapour"].reading is None
    assert "elsewhere.x" not in live.latest


def test_a_bad_reading_replaces_the_value_and_has_no_trend() -> None:
    live = LiveValues(small_site())
    for i in range(30):
        live.on_reading(good(CAB, at(i * 30), -80.0 + i))
    live.on_reading(bad(CAB, at(900)))
    now = live.channel(CAB)
    assert now.reading is not None and now.reading.quality is Quality.COMM_ERROR
    assert now.trend is Trend.UNKNOWN


def test_the_trend_over_ten_minutes_with_the_channels_resolution() -> None:
    live = LiveValues(small_site())  # freezer-1: 1 decimal, so steady within 0.2 C
    assert live.channel(CAB).trend is Trend.UNKNOWN
    live.on_reading(good(CAB, at(0), -80.0))
    live.on_reading(good(CAB, at(30), -80.0))
    assert live.channel(CAB).trend is Trend.UNKNOWN  # less than a minute of samples
    for t in range(60, 600, 10):  # noise of 0.1 C either way: steady
        live.on_reading(good(CAB, at(t), -80.0 - 0.1 * (t % 20 == 0)))
    assert live.channel(CAB).trend is Trend.STEADY
    live.on_reading(good(CAB, at(610), -79.0))
    assert live.channel(CAB).trend is Trend.RISING
    live.on_reading(good(CAB, at(620), -81.0))
    assert live.channel(CAB).trend is Trend.FALLING
    # samples older than the window no longer count: after a steady stretch at -70 it is steady
    for t in range(630, 1900, 30):
        live.on_reading(good(CAB, at(t), -70.0))
    assert live.channel(CAB).trend is Trend.STEADY


def test_samples_are_taken_at_most_every_trend_step() -> None:
    live = LiveValues(small_site())
    for t in range(0, 300):
        live.on_reading(good(CAB, at(t), -80.0))
    samples = live._samples[CAB]
    assert len(samples) == 300 // int(TREND_STEP.total_seconds())


def test_device_up_and_down_from_the_coordinators_events() -> None:
    live = LiveValues(small_site())
    before = live.changes
    live.on_event(Event(at(0), EventKind.DEVICE_DOWN, "plc", "down"))
    live.on_event(Event(at(0), EventKind.GAP, "plc", "not a device state"))
    assert live.device_up == {"plc": False} and live.changes == before + 1
    live.on_event(Event(at(5), EventKind.DEVICE_UP, "plc", "up"))
    assert live.device_up == {"plc": True}


def test_a_reading_it_cannot_take_never_stops_the_pipeline() -> None:
    """Inline in the pipeline: a naive timestamp (or any fault here) is counted and logged,
    and the next consumer still gets every reading."""
    live = LiveValues(small_site())
    after: list[Reading] = []

    class Next:
        def on_reading(self, reading: Reading) -> None:
            after.append(reading)

        def on_event(self, event: Event) -> None: ...

    pipeline = Pipeline(Metrics())
    pipeline.inline.extend([live, Next()])
    naive = Reading.good(CAB, datetime(2026, 12, 8, 0, 5), -80.0)
    pipeline.publish_many([good(CAB, at(0), -80.0), naive, good(CAB, at(60), -79.0)])
    assert len(after) == 3 and live.faults == 1
    assert live.latest[CAB].value == -79.0
