"""On-call schedules (issue 5 item 14): rotations hand off at a local wall-clock time, also
across the March and October daylight-saving changes; overrides and restricted layers on top;
``schedule:<id>`` resolves through the notify directory."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from alarms.escalation.config import ScheduleSpec
from alarms.escalation.schedule import Schedule, ScheduleResolver
from alarms.people import Directory, Group, Person

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def schedule(*layers: dict[str, Any], overrides: Any = (), tz: str = "Europe/Berlin") -> Schedule:
    spec = ScheduleSpec.model_validate(
        {"timezone": tz, "layers": list(layers), "overrides": list(overrides)}
    )
    return Schedule("techs", spec)


def daily(**changes: Any) -> dict[str, Any]:
    layer = {
        "people": ["ann", "ben"],
        "rotation": "daily",
        "handoff": "08:00",
        "start": date(2026, 3, 1),
    }
    layer.update(changes)
    return layer


def test_daily_handoff_at_0800_local() -> None:
    s = schedule(daily())
    assert s.on_call(berlin(2026, 3, 1, 8, 0)) == ["ann"]
    assert s.on_call(berlin(2026, 3, 2, 7, 59, 59)) == ["ann"]
    assert s.on_call(berlin(2026, 3, 2, 8, 0)) == ["ben"]
    assert s.on_call(berlin(2026, 3, 3, 8, 0)) == ["ann"]
    assert s.on_call(berlin(2026, 2, 28, 12, 0)) == ["ben"]  # runs back before its start too


@pytest.mark.parametrize(
    ("day", "utc_handoff"),
    [
        (date(2026, 3, 28), datetime(2026, 3, 28, 7, 0, tzinfo=UTC)),  # CET, +1
        (date(2026, 3, 29), datetime(2026, 3, 29, 6, 0, tzinfo=UTC)),  # the change: CEST, +2
        (date(2026, 3, 30), datetime(2026, 3, 30, 6, 0, tzinfo=UTC)),
        (date(2026, 10, 24), datetime(2026, 10, 24, 6, 0, tzinfo=UTC)),  # CEST
        (date(2026, 10, 25), datetime(2026, 10, 25, 7, 0, tzinfo=UTC)),  # the change: CET
        (date(2026, 10, 26), datetime(2026, 10, 26, 7, 0, tzinfo=UTC)),
    ],
)
def test_the_handoff_stays_at_0800_local_across_dst(day: date, utc_handoff: datetime) -> None:
    s = schedule(daily())
    before, after = s.on_call(utc_handoff - timedelta(seconds=1)), s.on_call(utc_handoff)
    assert before != after
    assert utc_handoff.astimezone(BERLIN).strftime("%H:%M") == "08:00"
    layer = s.layers[0]
    assert layer.boundary(layer.turn(utc_handoff)) == utc_handoff


def test_turns_that_span_a_dst_change_are_23_and_25_hours() -> None:
    layer = schedule(daily()).layers[0]
    spring = layer.turn(berlin(2026, 3, 28, 12, 0))
    autumn = layer.turn(berlin(2026, 10, 24, 12, 0))
    assert layer.boundary(spring + 1) - layer.boundary(spring) == timedelta(hours=23)
    assert layer.boundary(autumn + 1) - layer.boundary(autumn) == timedelta(hours=25)


def test_weekly_rotation_hands_off_on_the_start_weekday() -> None:
    s = schedule(daily(people=["ann", "ben", "cem"], rotation="weekly", start=date(2026, 1, 5)))
    monday = berlin(2026, 3, 2, 8, 0)  # 8 weeks after 5 January: turn 8, cem
    assert s.on_call(monday - timedelta(minutes=1)) == ["ben"]
    assert s.on_call(monday) == ["cem"]
    assert s.on_call(monday + timedelta(days=6, hours=23)) == ["cem"]
    assert s.on_call(monday + timedelta(days=7)) == ["ann"]
    assert s.on_call(berlin(2026, 3, 30, 7, 59)) == ["cem"]  # across the March change
    assert s.on_call(berlin(2026, 3, 30, 8, 0)) == ["ann"]


def test_twelve_hour_shifts_stay_at_0800_and_2000_local() -> None:
    s = schedule(daily(people=["day", "night"], rotation="12h"))
    for d in (28, 29, 30):  # around the March change
        assert s.on_call(berlin(2026, 3, d, 8, 0)) == ["day"]
        assert s.on_call(berlin(2026, 3, d, 19, 59)) == ["day"]
        assert s.on_call(berlin(2026, 3, d, 20, 0)) == ["night"]
        assert s.on_call(berlin(2026, 3, d + 1, 7, 59)) == ["night"]


def test_a_handoff_in_the_repeated_autumn_hour_happens_once() -> None:
    s = schedule(daily(handoff="02:30"))
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first of two
    again = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert s.on_call(first - timedelta(seconds=1)) != s.on_call(first)
    assert s.on_call(first) == s.on_call(again) == s.on_call(again + timedelta(hours=20))


def test_overrides_beat_every_layer() -> None:
    s = schedule(
        daily(),
        overrides=[
            {"person": "cem", "start": "2026-03-10 08:00", "end": "2026-03-12 08:00"},
            {"person": "dan", "start": "2026-03-11T00:00:00+00:00", "end": "2026-03-11T06:00Z"},
        ],
    )
    assert s.on_call(berlin(2026, 3, 10, 7, 59)) == ["ann"]
    assert s.on_call(berlin(2026, 3, 10, 8, 0)) == ["cem"]  # naive: Berlin local time
    assert s.on_call(datetime(2026, 3, 11, 3, 0, tzinfo=UTC)) == ["cem", "dan"]  # both
    assert s.on_call(berlin(2026, 3, 12, 8, 0)) == ["ben"]


def test_a_restricted_layer_covers_its_hours_and_lower_layers_the_rest() -> None:
    night = daily(people=["nia"], restrict={"start": "20:00", "end": "07:00"})
    weekend = daily(people=["wes"], restrict={"days": ["sat", "sun"]})
    s = schedule(daily(), night, weekend)
    assert s.on_call(berlin(2026, 3, 4, 12, 0)) == ["ben"]  # Wednesday day: the rotation
    assert s.on_call(berlin(2026, 3, 4, 23, 0)) == ["nia"]
    assert s.on_call(berlin(2026, 3, 5, 6, 59)) == ["nia"]
    assert s.on_call(berlin(2026, 3, 7, 12, 0)) == ["wes"]  # Saturday: top layer
    only_weekend = schedule(weekend)
    assert only_weekend.on_call(berlin(2026, 3, 4, 12, 0)) == []


def test_changes_list_every_handoff_and_override_edge() -> None:
    s = schedule(
        daily(),
        overrides=[{"person": "cem", "start": "2026-03-02 12:00", "end": "2026-03-02 14:00"}],
    )
    got = [
        (when.astimezone(BERLIN).strftime("%d %H:%M"), who)
        for when, who in s.changes(berlin(2026, 3, 1, 12, 0), berlin(2026, 3, 3, 12, 0))
    ]
    assert got == [
        ("01 12:00", ["ann"]),
        ("02 08:00", ["ben"]),
        ("02 12:00", ["cem"]),
        ("02 14:00", ["ben"]),
        ("03 08:00", ["ann"]),
    ]


def test_on_call_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule(daily()).on_call(datetime(2026, 3, 1, 12, 0))


def test_schedule_targets_resolve_through_the_directory() -> None:
    people = [
        Person(id=p, name=p.title(), phone=f"+49151000000{i}", channels=("sms",))
        for i, p in enumerate(("ann", "ben", "sam"))
    ]
    resolver = ScheduleResolver(
        Directory(people, [Group(id="sup", members=("sam",))]), {"techs": schedule(daily())}
    )
    at = berlin(2026, 3, 2, 9, 0)
    assert [p.id for p in resolver.expand("schedule:techs", at)] == ["ben"]
    assert [p.id for p in resolver.expand("group:sup", at)] == ["sam"]
    got = resolver.expand_all(["schedule:techs", "person:ben", "group:sup"], at)
    assert [p.id for p in got] == ["ben", "sam"]
    with pytest.raises(KeyError, match="no schedule 'nope'"):
        resolver.expand("schedule:nope", at)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"handoff": 480}, "write times of day in quotes"),
        ({"rotation": "30m"}, "at least 1h"),
        ({"rotation": "fortnightly"}, "not a duration"),
        ({"restrict": {"days": ["monday"]}}, "mon"),
        ({"people": []}, "at least 1"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_layer_settings_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleSpec.model_validate({"layers": [daily(**changes)]})


def test_the_time_zone_is_checked() -> None:
    with pytest.raises(ValidationError, match="not a time zone name"):
        ScheduleSpec.model_validate({"timezone": "Europe/Berlinn", "layers": [daily()]})
    spec = ScheduleSpec.model_validate({"layers": [daily()]})
    assert Schedule("x", spec, "America/New_York").zone == ZoneInfo("America/New_York")
