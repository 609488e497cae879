"""The docs describe the product: no paths of a development machine, and what they claim of the
configuration files and the code holds."""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.core.model import Quality, Reading
from monitor.runtime.channel_checks import ChannelRules

ROOT = Path(__file__).resolve().parents[1]
#: A path of someone's machine or of a session, not of the product (``/run``, ``/etc``,
#: ``/var/lib`` and ``/dev`` are where the product lives and stay allowed).
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|tmp|root|Users|mnt/data)/")
TEXT_FILES = [
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    *sorted((ROOT / "config").glob("*.yaml")),
]
CODE_DIRS = ("monitor", "drivers", "alarms", "simulators", "bench")


def _prose(path: Path) -> list[tuple[int, str]]:
    """The docstrings and comments of a Python file, with their line numbers."""
    source = path.read_text(encoding="utf-8")
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring is not None:
                out.append((node.body[0].lineno, docstring))
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            out.append((token.start[0], token.string))
    return out


def test_the_machine_path_pattern() -> None:
    assert MACHINE_PATH.search("see /work/shared/reference/devices.md")
    assert MACHINE_PATH.search("--data-dir /tmp/cw-demo")
    assert not MACHINE_PATH.search("/run/coldwatch/fallback.journal, /var/lib/coldwatch")
    assert not MACHINE_PATH.search("data/tmp/x and ./work/y")


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_no_path_of_a_development_machine(path: Path) -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MACHINE_PATH.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_docstrings_and_comments_name_no_path_of_a_development_machine() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {text.strip()[:120]}"
        for folder in CODE_DIRS
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, text in _prose(path)
        if MACHINE_PATH.search(text)
    ]
    assert not hits, "\n".join(hits)


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", markdown, flags=re.S | re.M)


def test_the_modbus_worked_example_is_an_excerpt_of_config_example_yaml() -> None:
    text = (ROOT / "docs" / "drivers.md").read_text(encoding="utf-8")
    section = text[text.index("### Worked example") :]
    assert "an excerpt of [`config/example.yaml`]" in section[:600]
    excerpt: dict[str, Any] = yaml.safe_load(_yaml_blocks(section)[0])
    full: dict[str, Any] = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())

    devices = {d["id"]: d for d in full["devices"]}
    assert excerpt["devices"], "the excerpt shows no device"
    for device in excerpt["devices"]:
        assert device == devices[device["id"]]

    locations = {loc["id"]: loc for loc in full["locations"]}
    shown = 0
    for location in excerpt["locations"]:
        equipment = {e["id"]: e for e in locations[location["id"]]["equipment"]}
        for unit in location["equipment"]:
            whole = equipment[unit["id"]]
            assert unit["kind"] == whole["kind"]
            channels = {c["id"]: c for c in whole["channels"]}
            for channel in unit["channels"]:
                assert channel == channels[channel["id"]], f"{unit['id']}.{channel['id']}"
                shown += 1
    assert shown >= 3


def test_sentinels_match_within_the_tolerance_the_simulator_docs_give() -> None:
    text = " ".join((ROOT / "docs" / "simulators.md").read_text(encoding="utf-8").split())
    assert "match a sentinel within a relative tolerance of 1e-6" in text
    assert "compare a sentinel exactly" not in text
    rules = ChannelRules("t.x", -math.inf, math.inf, frozenset({-999.9}), None, False)
    ts = datetime(2026, 1, 1, tzinfo=UTC)

    def quality(value: float) -> Quality:
        return rules.apply(Reading.good("t.x", ts, value)).quality

    # as FLOAT32 and as INT32 x 0.1 decode -999.9, and what the tolerance still takes
    for value in (-999.9, -999.9000244140625, -999.9000000000001, -999.9 * (1 + 0.9e-6)):
        assert quality(value) is Quality.SENSOR_FAULT, value
    for value in (-999.9 * (1 + 1.1e-6), -999.8, -80.0):
        assert quality(value) is Quality.GOOD, value
