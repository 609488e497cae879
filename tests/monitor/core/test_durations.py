"""Durations as the configuration writes them (monitor/core/durations.py)."""

from __future__ import annotations

import pytest

from monitor.core.durations import parse_duration


def test_durations() -> None:
    assert parse_duration(10) == 10.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("5m") == 300.0
    assert parse_duration("2h") == 7200.0
    for bad in ("fast", "-1s", True, None, "5 parsecs"):
        with pytest.raises(ValueError):
            parse_duration(bad)
