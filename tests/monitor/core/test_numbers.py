"""Numbers without float noise (monitor/core/numbers.py): the shortest decimal of a FLOAT32
and scaled values rounded to the decimals their parts carry."""

from __future__ import annotations

import math
import struct
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from monitor.core.numbers import Scaling, decimals_of, shortest_float32


def as_float32(value: float) -> float:
    try:
        return float(struct.unpack(">f", struct.pack(">f", value))[0])
    except OverflowError:  # beyond the largest FLOAT32
        return math.copysign(math.inf, value)


def digits(value: float) -> int:
    """Significant digits in the shortest repr of a double."""
    mantissa = repr(abs(value)).split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) or 1


finite_float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@hypothesis_settings(max_examples=2000, deadline=None)
@given(finite_float32)
def test_every_float32_reads_back_from_its_shortest_decimal(value: float) -> None:
    shortest, decimals = shortest_float32(value)
    assert as_float32(shortest) == value
    # never longer than the FLOAT32 written out as a double, and at most 9 digits
    assert digits(shortest) <= min(digits(value), 9)
    assert decimals == decimals_of(shortest)


@hypothesis_settings(max_examples=500, deadline=None)
@given(finite_float32, st.integers(1, 8))
def test_no_shorter_decimal_reads_back(value: float, fewer: int) -> None:
    """Shortest means shortest: no decimal of fewer significant digits reads back."""
    shortest, _ = shortest_float32(value)
    length = digits(shortest)
    if value == 0.0 or fewer >= length:
        return
    mantissa, exponent = f"{abs(value):.{fewer - 1}e}".split("e")
    step = Decimal(f"1e-{fewer - 1}")
    for near in (Decimal(mantissa), Decimal(mantissa) + step, Decimal(mantissa) - step):
        candidate = float(near.scaleb(int(exponent)))
        assert as_float32(math.copysign(candidate, value)) != value


@pytest.mark.parametrize(
    ("value", "shortest"),
    [
        (as_float32(37.05362), 37.05362),  # 37.05361557006836 as a double
        (as_float32(-63.9), -63.9),
        (as_float32(-79.3), -79.3),
        (as_float32(0.1), 0.1),
        (as_float32(-80.0), -80.0),
        (as_float32(1e-45), 1e-45),  # the smallest subnormal
        (as_float32(3.4028235e38), 3.4028235e38),  # the largest FLOAT32
        # 2**87: the nearest 8-digit decimal falls in the narrow half below a power of two
        # and does not read back; the next one up does
        (2.0**87, 1.5474251e26),
        (-0.0, 0.0),
    ],
)
def test_shortest_float32_examples(value: float, shortest: float) -> None:
    assert repr(shortest_float32(value)[0]) == repr(shortest)


@pytest.mark.parametrize(
    ("value", "decimals"),
    [(-63.9, 1), (37.05362, 5), (-80.0, -1), (1200.0, -2), (0.0, 0), (1e-05, 5), (0.25, 2)],
)
def test_decimals_of(value: float, decimals: int) -> None:
    assert decimals_of(value) == decimals


@pytest.mark.parametrize(
    ("raw", "raw_decimals", "scale", "offset", "value"),
    [
        (-639, 0, 0.1, 0.0, -63.9),  # -63.900000000000006 unrounded
        (-793, 0, 0.1, 0.0, -79.3),  # -79.30000000000001 unrounded
        (-793, 0, 0.01, 0.0, -7.93),
        (250, 0, 0.1, -273.15, -248.15),
        (2, 0, -1.0, 1.0, -1.0),
        (1, 0, -1.0, 1.0, 0.0),  # never -0.0
        (465.66, 2, 0.0001, 0.0, 0.046566),
        (37.05362, 5, 1.0, 0.0, 37.05362),
        (12, 0, 10.0, 0.0, 120.0),
    ],
)
def test_scaling_rounds_to_the_decimals_its_parts_carry(
    raw: float, raw_decimals: int, scale: float, offset: float, value: float
) -> None:
    scaled = Scaling(scale, offset).apply(raw, raw_decimals)
    assert repr(scaled) == repr(value)


@hypothesis_settings(max_examples=1000, deadline=None)
@given(
    st.integers(-(2**31), 2**31 - 1),
    st.sampled_from([0.1, 0.01, 0.001, 0.5, 0.25, 2.0, 1.0]),
    st.sampled_from([0.0, -273.15, 1.5, 40.0]),
)
def test_scaled_integers_are_the_exact_decimal(raw: int, scale: float, offset: float) -> None:
    """The stored value is the double nearest the exact decimal raw * scale + offset."""
    exact = Decimal(raw) * Decimal(repr(scale)) + Decimal(repr(offset))
    assert Scaling(scale, offset).apply(float(raw)) == float(exact)
    assert Scaling(scale, offset).apply_integer(raw) == float(exact)


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0.1, 0.01, 0.0001, 0.3333333333333333, 2.5, 10.0, 1e-9]),
    st.sampled_from([0.0, -273.15, 100.0]),
)
def test_scaled_64_bit_integers_are_the_nearest_double(
    raw: int, scale: float, offset: float
) -> None:
    """Integer arithmetic: exact even where the raw value has more digits than a double."""
    with localcontext() as exact_context:
        exact_context.prec = 60
        exact = Decimal(raw) * Decimal(repr(scale)) + Decimal(repr(offset))
    assert Scaling(scale, offset).apply_integer(raw) == float(exact)


def test_not_finite_passes_through() -> None:
    assert math.isinf(Scaling(1e300).apply(1e300))
