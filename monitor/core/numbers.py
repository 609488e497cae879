"""Numbers as a device meant them: no float noise in the record.

A FLOAT32 register read into a Python float keeps every binary digit of the single-precision
value (``37.05362`` arrives as ``37.05361557006836``), and a scaled integer picks up the
error of binary fractions (``-639 * 0.1 == -63.900000000000006``). The drivers store instead
the shortest decimal that reads back as the same FLOAT32, and round a scaled value to the
decimals its scale and offset can carry. Both are exact: the rounding only removes digits the
device never sent.
"""

from __future__ import annotations

import functools
import math
import struct
from decimal import Decimal

_F32 = struct.Struct(">f")
#: Nine significant digits always identify a FLOAT32.
_F32_MAX_DIGITS = 9


def _as_float32(value: float) -> float:
    """``value`` read back through a FLOAT32 (infinite beyond its range)."""
    try:
        return float(_F32.unpack(_F32.pack(value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


@functools.lru_cache(maxsize=4096)
def shortest_float32(value: float) -> tuple[float, int]:
    """The shortest decimal that reads back as the FLOAT32 ``value``, and its number of
    decimals. Cached (bounded): a freezer sends the same few values poll after poll, and a
    hit costs no Python frame (the cache is C), which the poll loop pays per FLOAT32 field."""
    return _shortest_float32(value)


def _shortest_float32(value: float) -> tuple[float, int]:
    """The shortest decimal that reads back as the FLOAT32 ``value``, and its number of
    decimals (digits after the point; negative for a value rounded to tens or more).

    ``value`` must be finite and exactly representable as a FLOAT32 (any value unpacked from
    one is).
    """
    if value == 0.0:
        return 0.0, 0
    size = abs(value)
    target = _as_float32(size)
    for digits in range(_F32_MAX_DIGITS):
        text = f"{size:.{digits}e}"
        number = float(text)
        if _as_float32(number) != target and number < size:
            # at a power of two the values that read back as this FLOAT32 reach twice as
            # far above it as below: the next candidate up can fit where the nearest did not
            mantissa, exponent = text.split("e")
            number = float((Decimal(mantissa) + Decimal(f"1e-{digits}")).scaleb(int(exponent)))
        if _as_float32(number) == target:
            return math.copysign(number, value), decimals_of(number)
    return value, decimals_of(value)  # not reached for a finite FLOAT32


def _units(value: float, places: int) -> int:
    """``value`` (as its shortest decimal) times ``10**places``, which makes it whole."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    return int(Decimal(repr(value)).scaleb(places))


def decimals_of(value: float) -> int:
    """Digits after the point in the shortest form of the double ``value`` (``-63.9`` -> 1,
    ``1200.0`` -> -2: it is a whole number of hundreds)."""
    if value == 0.0 or not math.isfinite(value):
        return 0
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


class Scaling:
    """``raw * scale + offset`` without the noise: the result is rounded to the decimals the
    raw value, the scale and the offset can carry together (``-639 * 0.1`` -> ``-63.9``,
    ``465.66 / 10000`` as scale ``0.0001`` -> ``0.046566``)."""

    __slots__ = (
        "_offset_units",
        "_scale_units",
        "_unit",
        "identity",
        "offset",
        "offset_decimals",
        "scale",
        "scale_decimals",
    )

    def __init__(self, scale: float = 1.0, offset: float = 0.0) -> None:
        self.scale = scale
        self.offset = offset
        self.identity = scale == 1.0 and offset == 0.0
        self.scale_decimals = decimals_of(scale)
        self.offset_decimals = decimals_of(offset)
        # for integers: scale and offset as whole numbers of the finest decimal they carry
        places = max(0, self.scale_decimals, self.offset_decimals)
        self._unit = 10**places
        self._scale_units = _units(scale, places)
        self._offset_units = _units(offset, places)

    def apply_integer(self, raw: int) -> float:
        """``raw * scale + offset`` for an integer: the double nearest the exact decimal result,
        in integer arithmetic (exact, and cheaper than rounding a float). Infinite when the
        result is beyond a double's range."""
        if self.identity:
            return float(raw)
        try:
            result: float = (raw * self._scale_units + self._offset_units) / self._unit
        except OverflowError:
            return math.inf if (raw * self._scale_units + self._offset_units) > 0 else -math.inf
        return result

    def apply(self, raw: float, raw_decimals: int = 0) -> float:
        """The scaled value of ``raw``, which has ``raw_decimals`` decimals (0 for an integer;
        :func:`decimals_of` for a decimal number). Not finite in, not finite out."""
        if self.identity:
            return raw
        value = raw * self.scale + self.offset
        if not math.isfinite(value):
            return value
        decimals = max(raw_decimals + self.scale_decimals, self.offset_decimals)
        return round(value, decimals) + 0.0  # + 0.0: never a negative zero


@functools.lru_cache(maxsize=1024)
def scaling(scale: float = 1.0, offset: float = 0.0) -> Scaling:
    """The (shared, cached) :class:`Scaling` for a scale and offset."""
    return Scaling(scale, offset)


def scale_decimal(number: float, scale: float, offset: float) -> float:
    """``number * scale + offset`` for a number that came as decimal text (a serial line, an
    MQTT payload): rounded to the decimals the text, the scale and the offset carry."""
    rule = scaling(scale, offset)
    if rule.identity:
        return number
    return rule.apply(number, decimals_of(number))
