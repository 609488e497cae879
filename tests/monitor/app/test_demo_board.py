"""How the demo's board writes values, ages and units."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.app.demo_board import PageCount, age_text, display_decimals, value_text
from monitor.config.sections import Channel


def _channel(unit: str = "C", **source: Any) -> Channel:
    return Channel.model_validate(
        {"id": "x", "quantity": "temperature", "unit": unit, "source": {"device": "d", **source}}
    )


@pytest.mark.parametrize(
    ("scale", "decimals"), [(0.1, 1), (0.0001, 4), (0.5, 1), (1, 0), (10, 0), (None, None)]
)
def test_a_scale_keeps_its_decimals(scale: float | None, decimals: int | None) -> None:
    source = {} if scale is None else {"scale": scale}
    assert display_decimals(_channel(**source)) == decimals


@pytest.mark.parametrize(
    ("value", "unit", "source", "shown"),
    [
        (-63.900000000000006, "C", {"scale": 0.1}, "-63.9 C"),
        (-79.30000000000001, "C", {"scale": 0.1}, "-79.3 C"),
        (37.05361557006836, "C", {}, "37.05 C"),
        (4.98410429, "%", {"scale": 0.0001}, "4.9841 %"),
        (1.0, "bool", {}, "yes"),
        (0.0, "bool", {}, "no"),
        (2.0, "code", {}, "2"),
        (12.0, "", {}, "12.00"),
        (None, "C", {}, "-"),
        ("RUN", "", {}, "RUN"),
    ],
)
def test_values_are_shown_with_their_unit(
    value: float | str | None, unit: str, source: dict[str, Any], shown: str
) -> None:
    assert value_text(value, _channel(unit, **source)) == shown


def test_ages() -> None:
    assert [age_text(s) for s in (None, -0.2, 3.4, 119, 150, 7300)] == [
        "never",
        "0 s",
        "3 s",
        "119 s",
        "2 min",
        "2 h",
    ]


def test_pages_are_counted_as_the_outbox_grows(tmp_path: Any) -> None:
    outbox = tmp_path / "outbox.jsonl"
    pages = PageCount(outbox)
    assert pages.update() == 0  # not there yet
    outbox.write_text('{"a": 1}\n{"b": 2}\n')
    assert pages.update() == 2
    with outbox.open("a") as handle:
        handle.write('{"c": 3}\n')
    assert pages.update() == 3
    assert PageCount(None).update() == 0
