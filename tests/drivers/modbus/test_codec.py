"""The Modbus driver's pure parts: settings validation, decoding, request planning."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.base import Point
from drivers.modbus.codec import (
    DecodeError,
    SensorFault,
    decode_registers,
    decode_string,
    make_decoder,
)
from drivers.modbus.config import ModbusPoint, ModbusSettings
from drivers.modbus.driver import Answer, Failed, ModbusDriver, Refused, _check
from drivers.modbus.plan import Span, plan_requests, split
from tests.support.modbus_server import encode

NUMERIC = {
    "int16": -12345,
    "uint16": 54321,
    "int32": -123456789,
    "uint32": 3_123_456_789,
    "int64": -1_234_567_890_123_456,
    "uint64": 12_345_678_901_234_567_890,
    "float32": 465.66,
    "float64": -80.123456789,
}
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")


def point(**kw: Any) -> ModbusPoint:
    return ModbusPoint.model_validate({"register": "holding", "address": 0, **kw})


def settings(**kw: Any) -> ModbusSettings:
    return ModbusSettings.model_validate({"transport": "tcp", "host": "127.0.0.1", **kw})


def errors(model: Any, data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    return str(exc.value)


# --- settings ------------------------------------------------------------------------------


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


# --- points --------------------------------------------------------------------------------


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


# --- codec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("data_type", sorted(NUMERIC))
def test_every_type_in_every_byte_order_round_trips(data_type: str, order: str) -> None:
    value = NUMERIC[data_type]
    decoded = decode_registers(
        encode(value, data_type, order), point(type=data_type, byte_order=order)
    )
    if data_type == "float32":
        assert decoded == pytest.approx(value, rel=1e-6)
    else:
        assert decoded == float(value)


def test_byte_orders_follow_the_names() -> None:
    # 0x11223344 as the bytes A B C D: each order names the bytes as they come off the wire
    wire = {
        "ABCD": [0x1122, 0x3344],
        "CDAB": [0x3344, 0x1122],
        "BADC": [0x2211, 0x4433],
        "DCBA": [0x4433, 0x2211],
    }
    for order, regs in wire.items():
        assert decode_registers(regs, point(type="uint32", byte_order=order)) == 0x11223344
        assert encode(0x11223344, "uint32", order) == regs


def test_reference_vectors_from_device_manuals() -> None:
    # Thermo TSX: FFFF FCE0 is -800, i.e. -80.0 C with scale 0.1
    assert decode_registers([0xFFFF, 0xFCE0], point(type="int32", scale=0.1)) == pytest.approx(
        -80.0
    )
    # Vaisala GMP251: reply bytes D4 7A 43 E8, least-significant word first: 465.66 ppm
    vaisala = point(type="float32", byte_order="CDAB")
    assert decode_registers([0xD47A, 0x43E8], vaisala) == pytest.approx(465.66, abs=1e-3)
    assert decode_registers(
        [0xD47A, 0x43E8], point(type="float32", byte_order="CDAB", scale=1e-4)
    ) == pytest.approx(0.046566, rel=1e-5)


def test_scale_offset_and_bits() -> None:
    assert decode_registers([250], point(type="int16", scale=0.1, offset=-273.15)) == pytest.approx(
        -248.15
    )
    status = [1 << 9 | 1 << 1]
    assert decode_registers(status, point(type="uint16", bit=1)) == 1.0
    assert decode_registers(status, point(type="uint16", bit=9)) == 1.0
    assert decode_registers(status, point(type="uint16", bit=10)) == 0.0
    # an inverted bit (power OK from a power-failure flag)
    assert decode_registers(status, point(type="uint16", bit=1, scale=-1, offset=1)) == 0.0
    # a bit of a byte-swapped register
    assert decode_registers([0x0002], point(type="uint16", bit=9, byte_order="BADC")) == 1.0


def test_nan_and_infinity_are_sensor_faults() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        for data_type, order in (("float32", "CDAB"), ("float64", "ABCD")):
            with pytest.raises(SensorFault):
                decode_registers(
                    encode(bad, data_type, order), point(type=data_type, byte_order=order)
                )


def test_garbled_registers_raise_decode_errors() -> None:
    with pytest.raises(DecodeError, match="expected 2 registers, got 1"):
        decode_registers([1], point(type="int32"))
    with pytest.raises(DecodeError, match="16-bit word"):
        decode_registers([70000, 1], point(type="int32"))
    with pytest.raises(DecodeError, match="finite"):
        decode_registers(encode(3e38, "float32"), point(type="float32", scale=1e300))


def test_strings() -> None:
    assert (
        decode_registers(encode("TSX60086", "string"), point(type="string", length=4)) == "TSX60086"
    )
    padded = encode("GMP251\x00\x00", "string")
    assert decode_registers(padded, point(type="string", length=4)) == "GMP251"
    spaced = encode("HMP4    ", "string")
    assert decode_registers(spaced, point(type="string", length=4)) == "HMP4"
    swapped = encode("ABCD", "string", "BADC")
    assert swapped == [0x4241, 0x4443]
    assert decode_registers(swapped, point(type="string", length=2, byte_order="BADC")) == "ABCD"
    assert decode_string(b"ok\x00garbage") == "ok"
    assert decode_string(b"\xff\xfe") == "\ufffd\ufffd"  # never raises


# --- plan ----------------------------------------------------------------------------------


def plan(points: list[ModbusPoint], **kw: Any) -> list[tuple[str, int, int]]:
    options = {"max_registers": 125, "max_bits": 2000, **kw}
    return [(r.span.kind, r.span.address, r.span.count) for r in plan_requests(points, **options)]


def test_contiguous_fields_make_one_request() -> None:
    six = [point(type="int16", address=a) for a in range(10, 16)]
    assert plan(six) == [("holding", 10, 6)]
    assert plan(six, one_per_field=True) == [("holding", a, 1) for a in range(10, 16)]
    assert plan(six, max_registers=4) == [("holding", 10, 4), ("holding", 14, 2)]


def test_fields_sharing_a_register_are_read_once() -> None:
    bits = [point(type="uint16", address=0x674, bit=b) for b in (9, 10, 11)]
    assert plan(bits) == [("holding", 0x674, 1)]
    assert plan(bits, one_per_field=True) == [("holding", 0x674, 1)]
    overlapping = [point(type="uint32", address=0), point(type="uint16", address=1)]
    (request,) = plan_requests(overlapping, max_registers=125, max_bits=2000)
    assert request.span == Span("holding", 0, 2)
    assert request.parts == (Span("holding", 0, 2), Span("holding", 1, 1))
    assert [r.span for r in split(request)] == list(request.parts)


def test_holes_kinds_and_limits() -> None:
    tsx = [point(type="uint16", address=0x671, bit=1), point(type="uint16", address=0x674, bit=9)]
    assert plan(tsx) == [("holding", 0x671, 1), ("holding", 0x674, 1)]
    assert plan(tsx, gap=2) == [("holding", 0x671, 4)]
    mixed = [
        point(type="int16", address=5),
        ModbusPoint.model_validate({"register": "input", "address": 5, "type": "int16"}),
        ModbusPoint.model_validate({"register": "coil", "address": 5}),
        ModbusPoint.model_validate({"register": "coil", "address": 6}),
        ModbusPoint.model_validate({"register": "coil", "address": 100}),
    ]
    assert plan(mixed) == [
        ("coil", 5, 2),
        ("coil", 100, 1),
        ("holding", 5, 1),
        ("input", 5, 1),
    ]
    assert plan(mixed[2:], max_bits=1) == [("coil", 5, 1), ("coil", 6, 1), ("coil", 100, 1)]
    long_string = [point(type="string", address=0, length=10)]
    assert plan(long_string, max_registers=4) == [("holding", 0, 10)]  # check() reports it


# --- answers are checked against their request ------------------------------------------


def response(**kw: Any) -> Any:
    base: dict[str, Any] = {"dev_id": 5, "function_code": 3, "registers": [1, 2], "bits": []}
    base.update(kw)
    return SimpleNamespace(isError=lambda: base["function_code"] > 0x80, **base)


def test_answers_that_do_not_fit_the_request_are_not_used() -> None:
    span = Span("holding", 0, 2)
    assert _check(response(), span, 5, 3) == Answer([1, 2])
    wrong_unit = _check(response(dev_id=6), span, 5, 3)
    assert isinstance(wrong_unit, Failed) and "unit 6" in wrong_unit.detail
    assert isinstance(_check(response(registers=[1]), span, 5, 3), Failed)
    assert isinstance(_check(response(function_code=4), span, 5, 3), Failed)
    refused = _check(response(function_code=0x83, exception_code=2), span, 5, 3)
    assert refused == Refused(2) and refused.detail == "modbus exception 2 (illegal data address)"
    bits = _check(response(function_code=1, bits=[True] + [False] * 7), Span("coil", 0, 3), 5, 1)
    assert bits == Answer([True, False, False])
    assert isinstance(
        _check(response(function_code=1, bits=[True]), Span("coil", 0, 3), 5, 1), Failed
    )
    # unit 0 (broadcast on serial, "any" on many TCP devices): pymodbus skips the check too
    assert _check(response(dev_id=17), span, 0, 3) == Answer([1, 2])


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


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    registers=st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4),
    type_=st.sampled_from(
        ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"]
    ),
    byte_order=st.sampled_from(["ABCD", "CDAB", "BADC", "DCBA"]),
    bit=st.one_of(st.none(), st.integers(0, 15)),
    scale=st.sampled_from([1.0, 0.1, -2.5]),
)
def test_the_precompiled_decoder_agrees_with_the_reference(
    registers: list[int], type_: str, byte_order: str, bit: int | None, scale: float
) -> None:
    """The hot-path decoder gives exactly what decode_registers gives, errors included."""
    if bit is not None and type_ not in ("int16", "uint16"):
        bit = None
    source: dict[str, Any] = {
        "register": "holding",
        "address": 0,
        "type": type_,
        "byte_order": byte_order,
        "scale": scale,
        "bit": bit,
    }
    if type_ == "string":
        source.update(length=4, scale=1.0)
    try:
        point = ModbusPoint.model_validate(source)
    except ValidationError:
        assume(False)  # a combination the configuration refuses (e.g. a CDAB string)
    regs = registers[: point.count]

    def outcome(fn: Any) -> Any:
        try:
            return ("ok", fn())
        except (DecodeError, SensorFault) as exc:
            return (type(exc).__name__,)

    expected = outcome(lambda: decode_registers(regs, point))
    got = outcome(lambda: make_decoder(point)(regs))
    assert got == expected or (
        got[0] == "ok"
        and isinstance(got[1], float)
        and math.isnan(got[1]) == math.isnan(expected[1])
    )
