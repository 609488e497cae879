"""format_value: the one way values are written for people (CLI, CSV, the demo's table)."""

from __future__ import annotations

import pytest

from monitor.core.display import format_value


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (37.05362, None, "37.05362"),
        (-63.9, None, "-63.9"),
        (-80.0, None, "-80.0"),
        (1.0, None, "1.0"),
        (12, None, "12.0"),
        (1e-05, None, "0.00001"),
        (2.5e16, None, "25000000000000000"),
        (37.05362, 1, "37.1"),
        (-63.9, 2, "-63.90"),
        (-80.0, 0, "-80"),
        (-0.0, None, "0.0"),
        (-0.04, 1, "0.0"),
        (-0.4, 0, "0"),
        ("door ajar", None, "door ajar"),
        ("door ajar", 2, "door ajar"),
        (None, None, ""),
        (None, 2, ""),
    ],
)
def test_format_value(value: float | str | None, decimals: int | None, text: str) -> None:
    assert format_value(value, decimals) == text
