"""A tile's HTML: the state in words and a symbol, values with their unit, a stale value
struck through and marked, a bad one replaced by its quality, and every configured or read
text escaped."""

from __future__ import annotations

from html.parser import HTMLParser

from alarms.model import AlarmState, Priority
from monitor.app.unit_state import ChannelShown, UnitAlarm, UnitState, UnitTile
from monitor.app.web.tile_html import age_text, tile_html
from monitor.runtime.live import Trend
from tests.support.dashboard import T0


def channel(quality: str, value: str = "-80.0", **more: object) -> ChannelShown:
    fields: dict[str, object] = {
        "id": "f.cab",
        "name": "cabinet",
        "unit": "C",
        "value": value,
        "quality": quality,
        "ts": T0,
        "age_seconds": 4.0,
        "trend": Trend.UNKNOWN,
        **more,
    }
    return ChannelShown(**fields)  # type: ignore[arg-type]


def tile(*channels: ChannelShown, **more: object) -> UnitTile:
    fields: dict[str, object] = {
        "id": "f",
        "name": "Freezer",
        "location": "Room",
        "state": UnitState.NORMAL,
        "channels": channels,
        "alarm": None,
        "active_alarms": 0,
        "shelved": False,
        "out_of_service": False,
        "devices_down": (),
        **more,
    }
    return UnitTile(**fields)  # type: ignore[arg-type]


class Balanced(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag


def test_a_good_value_with_its_unit_trend_and_age() -> None:
    html = tile_html(tile(channel("good", trend=Trend.RISING)))
    assert '<span class="badge">✓ Normal</span>' in html
    assert '<span class="value">-80.0</span> <span class="unit">C</span>' in html
    assert "↗ rising" in html
    assert f'data-ts="{T0.isoformat()}">4 s ago</span>' in html
    parser = Balanced()
    parser.feed(str(html))
    assert parser.open == []


def test_stale_and_bad_values_are_never_shown_as_current() -> None:
    stale = tile_html(tile(channel("stale"), state=UnitState.STALE))
    assert '<s class="value">-80.0 C</s> <strong class="flag">STALE</strong>' in stale
    assert "⌛ STALE" in stale
    bad = tile_html(tile(channel("comm_error", value=""), state=UnitState.FAULT))
    assert '<strong class="flag">BAD: COMM ERROR</strong>' in bad and "✗ FAULT" in bad
    none = tile_html(tile(channel("none", value="", ts=None, age_seconds=None)))
    assert '<strong class="flag">NO DATA</strong>' in none and "data-ts" not in none


def test_the_alarm_its_priority_and_the_marks_in_words() -> None:
    alarm = UnitAlarm("A1007", Priority.CRITICAL, AlarmState.UNACK, True, "cabinet warm")
    html = tile_html(
        tile(
            channel("good"),
            state=UnitState.ALARM,
            alarm=alarm,
            shelved=True,
            out_of_service=True,
            devices_down=("plc",),
        )
    )
    assert "▲ ALARM" in html and "critical priority, unacknowledged" in html
    assert '<a href="/alarms/A1007">A1007</a>: cabinet warm' in html
    assert "⏸ shelved" in html and "⛔ out of service" in html
    assert "device down: plc" in html


def test_every_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    alarm = UnitAlarm("A1", Priority.LOW, AlarmState.ACKED, False, evil)
    html = tile_html(
        tile(channel("good", value=evil, name=evil, unit=evil), name=evil, alarm=alarm)
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_ages() -> None:
    assert [age_text(s) for s in (0, 119.9, 120, 7199, 7200, 172800)] == [
        "0 s ago",
        "119 s ago",
        "2 min ago",
        "119 min ago",
        "2 h ago",
        "2 d ago",
    ]
    assert age_text(None) == ""
