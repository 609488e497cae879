"""Durations in configuration: seconds (``10``) or with a unit (``500ms``, ``5m``, ``2h``).

Always finite and at most a year: ``.inf`` or ``.nan`` would make a device polled once and
never again, a silent hole.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SECONDS = 366 * 86400.0
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '30s', '5m', '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if not match:
            raise ValueError(
                f"'{value}' is not a duration (examples: 30, '30s', '500ms', '5m', '1h')"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    else:
        raise ValueError("a duration is a number of seconds or a string like '30s', '5m', '1h'")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{value!r} is longer than a year ({MAX_SECONDS:g} s)")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
