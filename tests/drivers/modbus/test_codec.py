"""Decoding registers (drivers/modbus/codec.py): every type in every byte order, reference
vectors from device manuals, scale, bits, strings, faults; the precompiled decoder agrees with
the reference (property-based)."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.modbus.codec import (
    DecodeError,
    SensorFault,
    decode_registers,
    decode_string,
    make_decoder,
    make_field_reader,
)
from drivers.modbus.config import ModbusPoint
from tests.support.modbus_points import point
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


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("data_type", sorted(NUMERIC))
def test_every_type_in_every_byte_order_round_trips(data_type: str, order: str) -> None:
    value = NUMERIC[data_type]
    decoded = decode_registers(
        encode(value, data_type, order), point(type=data_type, byte_order=order)
    )
    # exact for every type: a FLOAT32 comes out as the shortest decimal that reads back as it
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
    assert decode_registers([0xFFFF, 0xFCE0], point(type="int32", scale=0.1)) == -80.0
    # Vaisala GMP251: reply bytes D4 7A 43 E8, least-significant word first: 465.66 ppm
    vaisala = point(type="float32", byte_order="CDAB")
    # (the manual rounds: 0x43E8D47A is 465.65997, one step below the FLOAT32 nearest 465.66)
    assert decode_registers([0xD47A, 0x43E8], vaisala) == 465.65997
    # ppm to percent: the scale's four decimals on top of the float's five, no more
    assert (
        decode_registers([0xD47A, 0x43E8], point(type="float32", byte_order="CDAB", scale=1e-4))
        == 0.046565997
    )


@pytest.mark.parametrize(
    ("registers", "source", "value"),
    [
        # FLOAT32 noise: 37.05362 is 0x421436E8 and reads as 37.05361557006836 in a double
        ([0x4214, 0x36E8], {"type": "float32"}, 37.05362),
        ([0xC27F, 0x999A], {"type": "float32"}, -63.9),
        # scaled integers: -639 * 0.1 is -63.900000000000006 in binary arithmetic
        ([0xFFFF, 0xFD81], {"type": "int32", "scale": 0.1}, -63.9),
        ([0xFCE7], {"type": "int16", "scale": 0.1}, -79.3),
        ([0xFCE7], {"type": "int16", "scale": 0.01}, -7.93),
        ([250], {"type": "int16", "scale": 0.1, "offset": -273.15}, -248.15),
        ([0x4214, 0x36E8], {"type": "float32", "scale": 0.1, "offset": 0.5}, 4.205362),
        # FLOAT64: a double's own shortest form, scaled without noise
        (encode(-80.123456789, "float64"), {"type": "float64"}, -80.123456789),
        (encode(-801.5, "float64"), {"type": "float64", "scale": 0.1}, -80.15),
    ],
)
def test_values_carry_no_float_noise(
    registers: list[int], source: dict[str, Any], value: float
) -> None:
    decoded = decode_registers(registers, point(**source))
    assert repr(decoded) == repr(value)
    assert repr(make_decoder(point(**source))(registers)) == repr(value)


def test_scale_offset_and_bits() -> None:
    assert decode_registers([250], point(type="int16", scale=0.1, offset=-273.15)) == -248.15
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
    # the poll loop packs a whole answer once and reads each field from its bytes
    read = make_field_reader(point)
    if read is not None:
        packed = struct.pack(f">{len(regs)}H", *regs)
        assert outcome(lambda: read(packed)) == got or (
            got[0] == "ok" and isinstance(got[1], float) and math.isnan(got[1])
        )
    else:
        assert point.byte_order != "ABCD"
