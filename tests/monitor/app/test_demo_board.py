"""How the demo's board writes values, ages and units."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.app.demo_board import PageCount, age_text, value_text
from monitor.config.sections import Channel


def _channel(unit: str = "C", decimals: int | None = None, **source: Any) -> Channel:
    return Channel.model_validate(
        {
            "id": "x",
            "quantity": "temperature",
            "unit": unit,
            "decimals": decimals,
            "source": {"device": "d", **source},
        }
    )


@pytest.mark.parametrize(
    ("value", "unit", "source", "shown"),
    [
        (-63.9, "C", {"scale": 0.1}, "-63.9 C"),  # stored without float noise (the driver)
        (-80.0, "C", {"scale": 0.1}, "-80.0 C"),
        (37.05362, "C", {}, "37.05362 C"),
        (37.05362, "C", {"decimals": 2}, "37.05 C"),
        (4.9841, "%", {"scale": 0.0001}, "4.9841 %"),
        (1.0, "bool", {}, "yes"),
        (0.0, "bool", {}, "no"),
        (2.0, "code", {}, "2"),
        (12.0, "", {}, "12.0"),
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
