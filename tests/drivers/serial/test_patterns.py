"""Reading values and events out of frames (drivers/serial/patterns.py): nothing a device sends
makes the parsers raise (property-based), numbers are found and scaled, unmatched frames are
counted and logged rate-limited."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import DriverContext, Point
from drivers.serial.config import EventRule, SerialPoint
from drivers.serial.driver import SerialDriver, SerialPushDriver
from drivers.serial.patterns import ChannelParser, EventMatcher
from monitor.core.clock import SystemClock
from monitor.core.model import Quality, Reading
from tests.support.serial_settings import FORMA_VALUE, push

TS = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def parser(**kw: Any) -> ChannelParser:
    return ChannelParser(SerialPoint.model_validate(kw))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_garbage_never_raises(text: str) -> None:
    parsers = [
        parser(command="CALVL?"),
        parser(pattern=FORMA_VALUE, fault_patterns=["T_ERR"], error_patterns=["ERR"]),
        parser(pattern=r"(?P<value>ON|OFF)?", map={"ON": 1, "OFF": 0}),
        parser(pattern=r"(?P<value>.*)", type="text"),
        parser(pattern=r"(?P<value>\S+)", scale=1e308),
    ]
    for p in parsers:
        outcome = p.parse(text)
        if outcome is not None and outcome.quality is Quality.GOOD:
            assert outcome.value is not None
            if isinstance(outcome.value, float):
                assert math.isfinite(outcome.value)
    EventMatcher([EventRule(pattern=r"Fill (?P<what>\w+)", kind="fill")]).match(text)


@settings(max_examples=300, deadline=None)
@given(
    number=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 3)),
    prefix=st.sampled_from(["", "+", " ", "LVL=", "\x00- "]),
    suffix=st.sampled_from(["", " ", " mm", "\x00"]),
    scale=st.sampled_from([1.0, 0.1, 25.4]),
    offset=st.sampled_from([0.0, -273.15]),
)
def test_without_a_pattern_the_whole_answer_is_one_number(
    number: float, prefix: str, suffix: str, scale: float, offset: float
) -> None:
    text = f"{prefix}{number}{suffix}"
    outcome = parser(command="CALVL?", scale=scale, offset=offset).parse(text)
    signed_twice = prefix == "+" and f"{number}".startswith("-")
    if prefix.strip(" +") or suffix.strip() or signed_twice:
        assert outcome is None  # the driver records a garbled answer: comm_error
        return
    assert outcome is not None and outcome.quality is Quality.GOOD
    assert outcome.value == pytest.approx(float(f"{number}") * scale + offset)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")))
def test_random_bytes_are_never_a_good_number_without_a_pattern(text: str) -> None:
    outcome = parser(command="T?").parse(text)
    if outcome is not None and outcome.quality is Quality.GOOD:
        assert float(text.strip()) == outcome.value  # only a clean number reads


def test_line_noise_is_not_read_as_a_value() -> None:
    bare = parser(command="T?")
    assert bare.parse("\0\0+1\0 2\0\r\n") is None
    assert bare.parse(" -80.5\r\n").value == -80.5  # type: ignore[union-attr]
    level = parser(command="LVL?", pattern=r"LVL=(?P<value>[-+.\d]+)")
    assert level.parse("LVL=12.5 mm").value == 12.5  # type: ignore[union-attr]
    noisy = level.parse("\x07LVL=12.5 mm")
    assert noisy is not None and noisy.quality is Quality.COMM_ERROR
    assert "control or non-ASCII characters outside the pattern" in (noisy.detail or "")
    assert level.parse("LVL=12.5 \xb0C\xff").quality is Quality.COMM_ERROR  # type: ignore[union-attr]
    covered = parser(command="T?", pattern=r"T=(?P<value>[-.\d]+) \xb0C")
    assert covered.parse("T=-80.1 \xb0C").value == -80.1  # type: ignore[union-attr]


def test_tec3000_and_forma_answers() -> None:
    level = parser(command="CALVL?", scale=0.1, offset=5)
    assert level.parse("+123.4") == level.convert("+123.4")
    # exact: 123.4 * 0.1 + 5 is 17.340000000000003 in binary arithmetic, stored as 17.34
    assert repr(level.parse("+123.4").value) == "17.34"  # type: ignore[union-attr]
    assert repr(level.parse("-012.5").value) == "3.75"  # type: ignore[union-attr]
    assert repr(parser(command="T?", scale=0.1).parse("-793").value) == "-79.3"  # type: ignore[union-attr]
    assert level.parse("???") is None  # no number: the driver reports a garbled answer
    forma = parser(pattern=FORMA_VALUE, fault_patterns=["T_ERR"], error_patterns=["ERR"])
    assert forma.parse("- -80 C UNDERTEMP").value == -80.0  # type: ignore[union-attr]
    fault = forma.parse("- T_ERR C")
    assert fault is not None and fault.quality is Quality.SENSOR_FAULT  # fault before error
    assert fault.detail == "sensor fault reported: '- T_ERR C'"
    error = forma.parse("ERR 07")
    assert error is not None and error.quality is Quality.COMM_ERROR
    assert forma.parse("HOT COND") is None  # not this channel's frame
    nan = parser(command="T?", pattern=r"(?P<value>\S+)").parse("nan")
    assert nan is not None and nan.quality is Quality.SENSOR_FAULT


def test_map_and_text_values() -> None:
    fill = parser(command="FILL?", pattern=r"FILL (?P<value>\w+)", map={"ON": 1, "OFF": 0})
    assert fill.parse("FILL ON").value == 1.0  # type: ignore[union-attr]
    assert fill.parse("FILL OFF").value == 0.0  # type: ignore[union-attr]
    bad = fill.parse("FILL MAYBE")
    assert bad is not None and bad.quality is Quality.COMM_ERROR
    assert bad.detail == "'MAYBE' is not one of the mapped ('ON', 'OFF')"
    # "" is the key for a value group that did not take part: an absent alarm word is 0
    power = parser(pattern=r"^-(?:.*(?P<value>PWRFAIL))?", map={"PWRFAIL": 1, "": 0})
    assert power.parse("- -80 C PWRFAIL").value == 1.0  # type: ignore[union-attr]
    assert power.parse("- -80 C").value == 0.0  # type: ignore[union-attr]
    ident = parser(command="*IDN?", pattern=r"(?P<value>.+)", type="text")
    assert ident.parse(" TEC3000 v2.1 ").value == "TEC3000 v2.1"  # type: ignore[union-attr]


def test_long_answers_are_truncated_in_details() -> None:
    outcome = parser(command="T?", pattern=r"(?P<value>.+)").parse("x" * 500)
    assert outcome is not None and outcome.detail is not None
    assert len(outcome.detail) < 120 and "(500 characters)" in outcome.detail


def test_events_carry_named_groups_and_repeats_can_be_suppressed() -> None:
    matcher = EventMatcher(
        [
            EventRule(pattern="UNDERTEMP", kind="undertemp", suppress_repeats=True),
            EventRule(
                pattern=r"Fill Started on (?P<date>[\d/]+) @ (?P<time>[\d:]+)", kind="fill_started"
            ),
        ]
    )
    kinds = []
    for frame in ["- -80 C UNDERTEMP", "- -79 C UNDERTEMP", "- -81 C", "- -78 C UNDERTEMP"]:
        events, matched = matcher.match(frame)
        kinds.append([e.kind for e in events])
        assert matched == ("UNDERTEMP" in frame)
    assert kinds == [["undertemp"], [], [], ["undertemp"]]
    (event,), _ = matcher.match("Fill Started on 9/28/98 @ 8:07")
    assert (event.kind, event.message) == ("fill_started", "Fill Started on 9/28/98 @ 8:07")
    assert event.data == {"date": "9/28/98", "time": "8:07"}
    matcher.match("- -80 C UNDERTEMP")
    matcher.reset()  # after a reconnect, the first UNDERTEMP is news again
    assert [e.kind for e in matcher.match("- -80 C UNDERTEMP")[0]] == ["undertemp"]


class Sink:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def reading(self, reading: Reading) -> None:
        self.readings.append(reading)

    def event(self, kind: str, message: str, data: Any = None) -> None:
        self.events.append((kind, message, dict(data or {})))

    def availability(self, online: bool, reason: str) -> None:
        pass


def test_unmatched_frames_are_counted_and_logged_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = DriverContext(SystemClock(), logging.getLogger("test.serial"))
    driver = SerialDriver(
        "forma",
        push(events=[{"pattern": "PWRFAIL", "kind": "power_failure"}]),
        [Point("f.t", SerialPoint(pattern=FORMA_VALUE))],
        context,
    )
    assert isinstance(driver, SerialPushDriver)
    sink = Sink()
    with caplog.at_level(logging.WARNING, logger="test.serial"):
        for _ in range(50):
            driver.dispatch(TS, "#$%&", sink)
        driver.dispatch(TS, "PWRFAIL", sink)  # an event only: matched
        driver.dispatch(TS, "- -80 C PWRFAIL", sink)
    assert driver.unmatched == 50
    assert len([r for r in caplog.records if "matches no channel" in r.getMessage()]) == 1
    assert [r.value for r in sink.readings] == [-80.0]
    assert [e[0] for e in sink.events] == ["power_failure", "power_failure"]
