"""How a reading's value is written for people: CLI tables, the readings CSV, the demo's table.

One helper so that every screen and export shows the same digits. Values are stored already
free of float noise (the drivers round them at decode time, see :mod:`monitor.core.numbers`);
this only chooses how many decimals to show.
"""

from __future__ import annotations

from decimal import Decimal

#: A channel's ``decimals:`` may ask for 0 to this many digits after the point.
MAX_DECIMALS = 9


def format_value(value: float | int | str | None, decimals: int | None = None) -> str:
    """``value`` as text: a fixed number of ``decimals`` if given, else the stored value's own
    shortest form, never in exponent notation, never ``-0``. ``None`` (a bad reading) gives ""
    so the caller writes what the gap means (its quality) in its own column.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        return str(number)  # never stored (bad quality instead); shown as is, not hidden
    if decimals is not None:
        text = f"{number:.{decimals}f}"
    else:
        text = repr(number)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
    if text.startswith("-") and text.strip("-0.") == "":
        text = text[1:]  # -0.0 and values that round to zero are shown without a sign
    return text
