"""Serial driver settings for the tests of its pure parts (no I/O)."""

from __future__ import annotations

from typing import Any

from drivers.serial.config import SerialSettings

FORMA_VALUE = r"-\s*(?P<value>-?\d+)\s*C"


def query(**kw: Any) -> SerialSettings:
    return SerialSettings.model_validate({"mode": "query", "port": "/dev/ttyUSB0", **kw})


def push(**kw: Any) -> SerialSettings:
    return SerialSettings.model_validate({"mode": "push", "port": "/dev/ttyS0", **kw})
