"""Registers to values, for every type and byte order.

Byte orders name the bytes of the value as the device sends them, most significant first:
``ABCD`` big-endian, ``CDAB`` words swapped (Vaisala), ``BADC`` bytes swapped inside each
register, ``DCBA`` little-endian. pymodbus only knows word order, so the byte swap inside
each register is done here first. A 64-bit ``CDAB`` value reverses all four words, as
pymodbus' ``word_order="little"`` does.

Values come out without float noise (:mod:`monitor.core.numbers`): a FLOAT32 as the shortest
decimal that reads back as the same FLOAT32, a scaled value rounded to the decimals its raw
value, scale and offset carry.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from drivers.modbus.config import ModbusPoint
from monitor.core.numbers import Scaling, decimals_of, shortest_float32

_STRUCT = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
    "float64": ">d",
}


class DecodeError(ValueError):
    """The registers cannot be what the point says they are (a garbled or short answer)."""


class SensorFault(ValueError):
    """The device says, in band, that the value is unavailable (NaN, infinity)."""


def registers_to_bytes(registers: Sequence[int], byte_order: str) -> bytes:
    """The value's bytes, most significant first, from registers as they came off the wire."""
    for reg in registers:
        if not isinstance(reg, int) or isinstance(reg, bool) or not 0 <= reg <= 0xFFFF:
            raise DecodeError(f"register value {reg!r} is not a 16-bit word")
    words = (
        [((r & 0xFF) << 8) | (r >> 8) for r in registers]
        if byte_order
        in (
            "BADC",
            "DCBA",
        )
        else list(registers)
    )
    if byte_order in ("CDAB", "DCBA"):
        words.reverse()
    return b"".join(w.to_bytes(2, "big") for w in words)


def decode_registers(registers: Sequence[int], point: ModbusPoint) -> float | str:
    """The point's value from exactly ``point.count`` registers, scaled."""
    if len(registers) != point.count:
        raise DecodeError(f"expected {point.count} registers, got {len(registers)}")
    raw = registers_to_bytes(registers, point.byte_order)
    if point.type == "string":
        return decode_string(raw)
    if point.bit is not None:
        word = int.from_bytes(raw, "big")
        return _scaled((word >> point.bit) & 1, point)
    number = struct.unpack(_STRUCT[point.type], raw)[0]
    if isinstance(number, float) and not math.isfinite(number):
        raise SensorFault(f"device reports {number} (value unavailable)")
    return _scaled(number, point)


def decode_bits(bits: Sequence[bool], point: ModbusPoint) -> float:
    """A coil's or discrete input's state as 0.0 / 1.0 (scale and offset can invert it)."""
    if len(bits) != 1:
        raise DecodeError(f"expected 1 bit, got {len(bits)}")
    return _scaled(1 if bits[0] else 0, point)


def decode_string(raw: bytes) -> str:
    """Text up to the first NUL, trailing spaces removed (devices pad with either)."""
    return raw.split(b"\x00", 1)[0].rstrip(b" ").decode("utf-8", errors="replace")


def _scaled(raw: int | float, point: ModbusPoint) -> float:
    value = _denoised(raw, point.type, Scaling(point.scale, point.offset))
    if not math.isfinite(value):
        raise DecodeError(f"{raw} * {point.scale} + {point.offset} is not a finite number")
    return value


def _denoised(raw: int | float, type_: str, scaling: Scaling) -> float:
    """``raw * scale + offset`` with no digits the device did not send."""
    if type_ == "float32":
        number, decimals = shortest_float32(raw)
        return scaling.apply(number, decimals)
    if isinstance(raw, float):  # FLOAT64: a double's repr is already its shortest form
        return raw if scaling.identity else scaling.apply(raw, decimals_of(raw))
    return scaling.apply_integer(raw)


Decoder = Callable[[Sequence[int]], "float | str"]


def make_decoder(point: ModbusPoint) -> Decoder:
    """A decoder for one register point, with everything that does not depend on the answer
    worked out once (the poll loop runs it for every field of every device).

    Gives exactly what :func:`decode_registers` gives, raising the same errors."""
    count = point.count
    words = struct.Struct(f">{count}H")
    byte_order = point.byte_order
    swapped = byte_order in ("BADC", "DCBA", "CDAB")
    finish = _finisher(point)

    def decode(registers: Sequence[int]) -> float | str:
        if len(registers) != count:
            raise DecodeError(f"expected {count} registers, got {len(registers)}")
        if swapped:
            return finish(registers_to_bytes(registers, byte_order))
        try:
            raw = words.pack(*registers)
        except struct.error:
            raw = registers_to_bytes(registers, byte_order)  # raises DecodeError
        return finish(raw)

    return decode


def make_field_reader(point: ModbusPoint) -> Callable[[bytes], float | str] | None:
    """The value from the field's bytes as the registers carry them, big-endian, or None
    for a byte order that moves bytes (those go through :func:`make_decoder`).

    ``read(pack(registers))`` gives exactly what ``make_decoder(point)(registers)`` gives for
    ``point.count`` 16-bit registers, so that a whole answer can be packed once and each
    field read from its slice of the bytes."""
    if point.byte_order != "ABCD":
        return None
    return _finisher(point)


def _finisher(point: ModbusPoint) -> Callable[[bytes], float | str]:
    """The value from the field's bytes (most significant first), for the point's type."""
    if point.type == "string":
        return decode_string
    scaling = Scaling(point.scale, point.offset)
    scale, offset, bit = point.scale, point.offset, point.bit
    if bit is not None:
        if scaling.identity:  # 0.0 or 1.0, always finite
            return lambda raw: float((int.from_bytes(raw, "big") >> bit) & 1)
        return lambda raw: _finite(scaling.apply_integer((int.from_bytes(raw, "big") >> bit) & 1))
    unpack = struct.Struct(_STRUCT[point.type]).unpack
    if point.type == "float32":
        if scaling.identity:

            def float32(raw: bytes) -> float:
                (number,) = unpack(raw)
                if number - number != 0.0:  # NaN or infinite
                    raise SensorFault(f"device reports {number} (value unavailable)")
                return shortest_float32(number)[0]

            return float32

        def scaled_float32(raw: bytes) -> float:
            (number,) = unpack(raw)
            if number - number != 0.0:
                raise SensorFault(f"device reports {number} (value unavailable)")
            return _finite(scaling.apply(*shortest_float32(number)))

        return scaled_float32
    if point.type == "float64":

        def float64(raw: bytes) -> float:
            (number,) = unpack(raw)
            if number - number != 0.0:
                raise SensorFault(f"device reports {number} (value unavailable)")
            return _finite(_denoised(number, "float64", scaling))

        return float64
    if scaling.identity:
        return lambda raw: float(unpack(raw)[0])
    apply_integer = scaling.apply_integer

    def scaled_integer(raw: bytes) -> float:
        value = apply_integer(unpack(raw)[0])
        if value - value != 0.0:
            raise DecodeError(f"value * {scale} + {offset} is not a finite number")
        return value

    return scaled_integer


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise DecodeError(f"value * scale + offset is not a finite number: {value}")
    return value
