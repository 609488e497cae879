"""The serial settings (drivers/serial/config.py) and the escapes they are written with
(drivers/serial/escapes.py): checked at load time, with the file, line and key of each mistake."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from drivers import registry
from drivers.base import DriverContext, Point, PolledDriver, StreamingDriver
from drivers.serial.config import SerialPoint, SerialSettings
from drivers.serial.driver import SerialDriver, SerialPushDriver, SerialQueryDriver
from drivers.serial.escapes import unescape
from monitor.config.issues import ConfigError
from monitor.core.clock import SystemClock
from tests.support.fakes import fake_config
from tests.support.serial_settings import FORMA_VALUE, push, query


def error_of(model: Any, data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    return str(err.value)


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
    from monitor.app.config import load

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
