"""The Modbus settings and points (drivers/modbus/config.py): validation with a clear message,
the cross-check of a field too long for one request, and a dump that validates again."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drivers.base import Point
from drivers.modbus.config import ModbusPoint, ModbusSettings
from drivers.modbus.driver import ModbusDriver
from tests.support.modbus_points import point, settings


def errors(model: Any, data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    return str(exc.value)


def test_tcp_and_serial_settings() -> None:
    tcp = settings(port=5020, unit=7)
    assert (tcp.where, tcp.unit, tcp.pause_between_requests) == ("127.0.0.1:5020", 7, 0.0)
    rtu = ModbusSettings.model_validate(
        {"transport": "rtu", "serial_port": "/dev/ttyUSB0", "stopbits": 2, "unit": 240}
    )
    assert rtu.serial and rtu.pause_between_requests == 0.005  # serial default
    ascii_ = ModbusSettings.model_validate(
        {
            "transport": "ascii",
            "serial_port": "socket://10.0.0.5:4001",
            "bytesize": 7,
            "parity": "E",
            "request_timeout": "500ms",
            "pause_between_requests": 0,
        }
    )
    assert ascii_.request_timeout == 0.5 and ascii_.pause_between_requests == 0.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"transport": "tcp"}, "transport tcp needs 'host'"),
        ({"transport": "tcp", "host": "h", "baudrate": 9600}, "baudrate only apply to"),
        ({"transport": "rtu"}, "needs 'serial_port'"),
        ({"transport": "rtu", "port": "/dev/ttyUSB0"}, "from 'serial_port'"),
        ({"transport": "ascii", "serial_port": "/dev/x", "host": "h"}, "not 'host'/'port'"),
        ({"transport": "rtu", "serial_port": "socket://gw"}, "socket://host:port"),
        ({"transport": "udp", "host": "h"}, "transport"),
        ({"transport": "tcp", "host": "h", "unit": 256}, "unit"),
        ({"transport": "tcp", "host": "h", "max_registers_per_request": 126}, "125"),
        ({"transport": "tcp", "host": "h", "max_bits_per_request": 2001}, "2000"),
        ({"transport": "tcp", "host": "h", "parity": "X"}, "parity"),
        ({"transport": "tcp", "host": "h", "retries": 3}, "retries"),
        ({"transport": "tcp", "host": "h", "request_timeout": 0}, "request_timeout"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(data: dict[str, Any], message: str) -> None:
    assert message in errors(ModbusSettings, data)


def test_point_defaults_and_counts() -> None:
    coil = ModbusPoint.model_validate({"register": "coil", "address": 3})
    assert (coil.kind, coil.type, coil.count) == ("coil", "bool", 1)
    assert point(type="float64").count == 4
    assert point(type="string", length=8).count == 8
    assert point(type="uint16", bit=9).bit == 9
    assert point(type="int32", address=0x530).address == 1328


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "bool"}, "type bool is for coil or discrete"),
        ({"register": "coil", "type": "float32"}, "its type must be bool"),
        ({"register": "discrete", "byte_order": "CDAB"}, "'byte_order' does not apply"),
        ({"type": "int32", "bit": 3}, "type must be int16 or uint16"),
        ({"type": "uint16", "bit": 16}, "bit"),
        ({"type": "string"}, "needs 'length'"),
        ({"type": "string", "length": 2, "scale": 2}, "scale and offset"),
        ({"type": "string", "length": 2, "byte_order": "CDAB"}, "ABCD or BADC"),
        ({"type": "int16", "length": 2}, "'length' only applies"),
        ({"type": "int33"}, "type"),
        ({"type": "float64", "address": 65533}, "passes 65535"),
        ({"type": "int16", "nan_values": [1]}, "nan_values"),
    ],
)
def test_bad_points_are_refused_with_a_clear_message(data: dict[str, Any], message: str) -> None:
    assert message in errors(ModbusPoint, {"register": "holding", "address": 0, **data})


def test_check_names_the_channel_of_a_field_too_long_for_one_request() -> None:
    small = settings(max_registers_per_request=4)
    points = [
        Point("freezer-07.label", point(type="string", length=8, address=0x100)),
        Point("freezer-07.cabinet_temp", point(type="int32", address=0x540)),
    ]
    (message,) = ModbusDriver.check(small, points)
    assert message.startswith("channel 'freezer-07.label': 8 registers at 0x0100")
    assert "max_registers_per_request is 4" in message
    assert ModbusDriver.check(settings(), points) == []


def test_settings_and_points_survive_a_dump_and_reload() -> None:
    """The effective configuration is dumped (records, status): it must validate again."""
    for s in (
        settings(port=5020, unit=3),
        ModbusSettings.model_validate({"transport": "rtu", "serial_port": "/dev/ttyS1"}),
    ):
        assert ModbusSettings.model_validate(s.model_dump()) == s
    for p in (
        ModbusPoint.model_validate({"register": "coil", "address": 3}),
        point(type="string", length=4, byte_order="BADC"),
        point(type="uint16", bit=3, scale=-1, offset=1),
    ):
        dumped = p.model_dump()
        assert dumped["register"] == p.kind
        assert ModbusPoint.model_validate(dumped) == p
