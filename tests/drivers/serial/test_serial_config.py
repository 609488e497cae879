"""The serial driver's pure parts: escapes, settings, framing and patterns (no I/O).

Framing and parsing get property-based tests: however a byte stream is chunked it yields the
same frames in bounded memory, and nothing a device sends makes the parsers raise.
"""

from __future__ import annotations

import itertools
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers import registry
from drivers.base import DriverContext, Point, PolledDriver, StreamingDriver
from drivers.serial.config import EventRule, SerialPoint, SerialSettings
from drivers.serial.driver import SerialDriver, SerialPushDriver, SerialQueryDriver
from drivers.serial.escapes import unescape
from drivers.serial.framing import Framer, clean
from drivers.serial.patterns import ChannelParser, EventMatcher
from monitor.clock import SystemClock
from monitor.config.loader import ConfigError
from monitor.model import Quality, Reading
from tests.support.fakes import fake_config

TS = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FORMA_VALUE = r"-\s*(?P<value>-?\d+)\s*C"


def query(**kw: Any) -> SerialSettings:
    return SerialSettings.model_validate({"mode": "query", "port": "/dev/ttyUSB0", **kw})


def push(**kw: Any) -> SerialSettings:
    return SerialSettings.model_validate({"mode": "push", "port": "/dev/ttyS0", **kw})


def error_of(model: Any, data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    return str(err.value)


# --- escapes and settings ----------------------------------------------------------------


def test_escapes_work_however_the_yaml_string_was_quoted() -> None:
    assert unescape(r"\r\n") == "\r\n"
    assert unescape(r"\x04 \0\t\e\\") == "\x04 \x00\t\x1b\\"
    assert unescape("\r\n") == "\r\n"  # already resolved by YAML double quotes
    assert (
        query(send_terminator=r"\r").send_terminator == query(send_terminator="\r").send_terminator
    )
    with pytest.raises(ValueError, match=r"unknown escape '\\m'"):
        unescape(r"CALVL?\m")
    with pytest.raises(ValueError, match=r"unknown escape '\\xZ1'"):
        unescape(r"\xZ1")
    assert "not single bytes" in error_of(
        SerialSettings, {"mode": "query", "port": "/dev/x", "send_terminator": "→"}
    )


def test_settings_defaults_and_mode_specific_keys() -> None:
    s = query()
    assert (s.baudrate, s.bytesize, s.parity, s.stopbits) == (9600, 8, "N", 1)
    assert (s.send_terminator, s.receive_terminator, s.response_timeout) == ("\r\n", "\n", 1.0)
    assert push(stopbits=2, baudrate=1200).stopbits == 2
    assert query(response_timeout="250ms").response_timeout == 0.25
    base = {"mode": "push", "port": "/dev/ttyS0"}
    assert "response_timeout, echo only apply to mode query" in error_of(
        SerialSettings, {**base, "response_timeout": 2, "echo": True}
    )
    assert "events only apply to mode push" in error_of(
        SerialSettings,
        {**base, "mode": "query", "events": [{"pattern": "X", "kind": "x"}]},
    )
    assert "either receive_terminator or frame_length" in error_of(
        SerialSettings, {**base, "frame_length": 12, "receive_terminator": "\x04"}
    )
    assert push(frame_length=12).frame_length == 12
    assert "stopbits 3 is not one of 1, 1.5, 2" in error_of(SerialSettings, {**base, "stopbits": 3})
    assert "socket://host:port" in error_of(SerialSettings, {**base, "port": "socket://gw"})
    assert "only device paths" in error_of(SerialSettings, {**base, "port": "rfc2217://gw:1"})
    assert "not a valid regular expression" in error_of(
        SerialSettings, {**base, "events": [{"pattern": "Fill (", "kind": "fill"}]}
    )
    assert "mode" in error_of(SerialSettings, {"port": "/dev/ttyS0"})


def test_point_patterns_are_checked_at_load_time() -> None:
    assert "has no group named 'value'" in error_of(SerialPoint, {"pattern": r"(\d+)"})
    assert "unterminated subpattern at position 0" in error_of(
        SerialPoint, {"pattern": "((?P<value>x)"}
    )
    assert "not a valid regular expression" in error_of(SerialPoint, {"fault_patterns": ["["]})
    assert "scale and offset do not apply with map" in error_of(
        SerialPoint, {"command": "FILL?", "map": {"1": 1}, "scale": 2}
    )
    assert "do not apply to type text" in error_of(SerialPoint, {"type": "text", "offset": 1})
    assert SerialPoint.model_validate({"command": r"CALVL?\r"}).command == "CALVL?\r"


def test_unquoted_on_off_map_keys_are_caught(tmp_path: Path) -> None:
    """YAML 1.1 reads ON/OFF as booleans: the map would never match the device's answer."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "site: {id: t, name: T}\n"
        f"store: {{path: {tmp_path / 'cw.db'}}}\n"
        "devices:\n"
        "  - {id: tec, driver: serial, settings: {mode: query, port: /dev/ttyUSB0}}\n"
        "locations:\n"
        "  - id: r\n"
        "    equipment:\n"
        "      - id: dewar\n"
        "        kind: ln2_dewar\n"
        "        channels:\n"
        "          - id: fill\n"
        "            quantity: fill_valve_open\n"
        "            unit: bool\n"
        '            source: {device: tec, command: "FILL?", map: {ON: 1, OFF: 0}}\n'
    )
    from monitor.config.loader import load

    with pytest.raises(ConfigError) as err:
        load(path)
    (issue,) = err.value.issues
    assert issue.line == 14 and issue.obj == "equipment 'dewar' channel 'fill'"
    assert "quote the keys" in issue.message


def test_points_must_fit_the_mode(tmp_path: Path) -> None:
    """Messages name the device and the channel; every problem is listed at once."""
    devices = [
        {"id": "tec", "driver": "serial", "settings": {"mode": "query", "port": "/dev/ttyUSB0"}},
        {"id": "forma", "driver": "serial", "settings": {"mode": "push", "port": "/dev/ttyS0"}},
    ]
    channels = [
        {"id": "level", "quantity": "ln2_level", "unit": "mm", "source": {"device": "tec"}},
        {
            "id": "temp",
            "quantity": "temperature",
            "unit": "C",
            "source": {"device": "forma", "command": "T?"},
        },
    ]
    with pytest.raises(ConfigError) as err:
        fake_config(tmp_path, devices, channels)
    messages = [f"{i.path}: {i.obj}: {i.message}" for i in err.value.issues]
    assert messages == [
        "devices[0]: device 'tec': channel 'fr.level': mode query needs a 'command' to send",
        "devices[1]: device 'forma': channel 'fr.temp': mode push sends no commands; remove "
        "'command'",
        "devices[1]: device 'forma': channel 'fr.temp': mode push needs a 'pattern' saying "
        "which frames carry this channel, with its value as (?P<value>...)",
    ]


def test_one_registry_name_builds_the_driver_the_mode_calls_for() -> None:
    assert registry.get("serial") is SerialDriver
    context = DriverContext(SystemClock(), logging.getLogger("test.serial"))
    polled = SerialDriver("tec", query(), [Point("d.l", SerialPoint(command="CALVL?"))], context)
    pushed = SerialDriver("f", push(), [Point("f.t", SerialPoint(pattern=FORMA_VALUE))], context)
    assert type(polled) is SerialQueryDriver and isinstance(polled, PolledDriver)
    assert type(pushed) is SerialPushDriver and isinstance(pushed, StreamingDriver)
    assert not isinstance(polled, StreamingDriver) and not isinstance(pushed, PolledDriver)
    assert polled.settings.mode == "query" and polled.points[0].channel == "d.l"
    with pytest.raises(ValueError, match="mode query needs a 'command'"):
        SerialDriver("tec", query(), [Point("d.l", SerialPoint())], context)


# --- framing -----------------------------------------------------------------------------


def reference_frames(stream: bytes, terminator: bytes, max_frame: int) -> list[bytes]:
    return [p for p in stream.split(terminator)[:-1] if len(p) <= max_frame]


def chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(points)]


# Streams rich in terminator bytes and their prefixes, so that splits land everywhere.
streams = st.lists(
    st.sampled_from([b"\x04", b"\r", b"\n", b"\r\n", b"\x00", b"-80 C ", b"x", b"T_ERR"])
    | st.binary(max_size=40),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(
    stream=streams,
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
    terminator=st.sampled_from([b"\x04", b"\n", b"\r\n", b"\n\r\x04", b"\r\r"]),
    max_frame=st.integers(min_value=1, max_value=64),
)
def test_any_chunking_gives_the_same_frames_in_bounded_memory(
    stream: bytes, cuts: list[int], terminator: bytes, max_frame: int
) -> None:
    framer = Framer(terminator=terminator, max_frame=max_frame)
    frames: list[bytes] = []
    for chunk in chunked(stream, cuts):
        frames += framer.feed(chunk)
        assert framer.buffered <= max_frame + len(terminator) - 1
    assert frames == reference_frames(stream, terminator, max_frame)


@settings(max_examples=200, deadline=None)
@given(
    stream=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=20),
    length=st.integers(min_value=1, max_value=40),
)
def test_fixed_length_frames_do_not_depend_on_chunking(
    stream: bytes, cuts: list[int], length: int
) -> None:
    framer = Framer(length=length)
    frames = [f for chunk in chunked(stream, cuts) for f in framer.feed(chunk)]
    whole = len(stream) - len(stream) % length
    assert frames == [stream[i : i + length] for i in range(0, whole, length)]
    assert framer.buffered == len(stream) % length


def test_garbage_without_terminator_is_discarded_and_counted() -> None:
    framer = Framer(terminator=b"\x04", max_frame=4096)
    for _ in range(100):  # 1 MiB of noise, as a line at the wrong baudrate might give
        assert framer.feed(b"\xff\x13" * 5120) == []
        assert framer.buffered <= 4096
    # the rest of the garbage run, up to its terminator, is dropped too; then framing resumes
    assert framer.feed(b"tail of noise\x04- -80 C \x04") == [b"- -80 C "]
    assert framer.overflows == 1
    assert framer.discarded == 100 * 10240 + len(b"tail of noise")


def test_clean_strips_junk_and_whitespace() -> None:
    raw = b"\x00- -80 C UNDERTEMP \n\r"
    assert clean(raw, b"\x00") == "- -80 C UNDERTEMP"
    assert clean(raw, b"\x00", trim=False) == "- -80 C UNDERTEMP \n\r"
    assert clean(b"\xb0C") == "\u00b0C"  # any byte decodes


# --- patterns ----------------------------------------------------------------------------


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
    scale=st.sampled_from([1.0, 0.1, 25.4]),
    offset=st.sampled_from([0.0, -273.15]),
)
def test_numbers_are_found_and_scaled(
    number: float, prefix: str, scale: float, offset: float
) -> None:
    text = f"{prefix}{number} mm"
    outcome = parser(command="CALVL?", scale=scale, offset=offset).parse(text)
    assert outcome is not None and outcome.quality is Quality.GOOD
    assert outcome.value == pytest.approx(float(f"{number}") * scale + offset)


def test_tec3000_and_forma_answers() -> None:
    level = parser(command="CALVL?", scale=0.1, offset=5)
    assert level.parse("+123.4") == level.convert("+123.4")
    assert level.parse("+123.4").value == pytest.approx(17.34)  # type: ignore[union-attr]
    assert level.parse("-012.5").value == pytest.approx(3.75)  # type: ignore[union-attr]
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
