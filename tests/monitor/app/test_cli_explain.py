"""``coldwatch check-config --explain UNIT``: the rules in force for a unit, each setting with
the layer it comes from, on the worked SOP example with one limit moved by a bare number."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.cli import main
from tests.support.paths import REPO

INCUBATOR_OVERRIDE = "        temperature: {high_high: 39.5}   # moved; still critical"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config/alarms-example.yaml with the incubator's high-high moved to 39.5 C; none of
    its secrets set (--explain reads none)."""
    for name in ("TWILIO_AUTH_TOKEN", "SMTP_PASSWORD", "PIN_ALICE", "PIN_QUINN"):
        monkeypatch.delenv(name, raising=False)
    lines = (REPO / "config" / "alarms-example.yaml").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "ok_values: [0, 4]" in line)
    lines.insert(at + 1, INCUBATOR_OVERRIDE)
    path = tmp_path / "coldwatch.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def explain(config: Path, unit: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main(["check-config", "-c", str(config), "--explain", unit]) == 0
    return capsys.readouterr().out.splitlines()


def test_explain_shows_limits_priorities_and_their_sources(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = explain(config, "incubator-02", capsys)
    builtin = "built-in template 'co2_incubator'"
    own = "alarms.equipment.incubator-02.rules.temperature"
    assert out[0] == "incubator-02 (CO2 incubator 02), kind co2_incubator, template 'co2_incubator'"
    start = out.index("incubator-02.chamber_temp/temperature  (limit: temperature)")
    assert out[start + 1 : start + 11] == [
        f"  priority high  [{builtin}]",
        f"  low_low   35 C  critical  [value and priority: {builtin}]",
        f"  low       36 C  high  [value: {builtin}; priority: the rule's]",
        f"  high      38 C  high  [value: {builtin}; priority: the rule's]",
        f"  high_high 39.5 C  critical  [value: {own}; priority: {builtin}]",
        f"  on_delay 15m  [{builtin}]",
        f"  off_delay 1m  [{builtin}]",
        f"  deadband 0.2 C  [{builtin}]",
        f"  SOP text [{builtin}]: Check the door and the set point; move the cultures to a "
        "backup incubator if it does not recover.",
        "",
    ]
    assert "gmp251-03/comm_loss  (comm_loss: comm loss)" in out  # its device's comm loss


def test_explain_names_site_template_and_unit_overrides(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = explain(config, "freezer-07", capsys)
    own = "alarms.equipment.freezer-07.rules.warm"
    start = out.index("freezer-07.cabinet_temp/warm  (limit: cabinet warm)")
    assert out[start + 2 : start + 4] == [
        f"  high      -68 C  high  [value: {own}; priority: the rule's]",
        f"  high_high -60 C  critical  [value and priority: {own}]",
    ]
    assert out[start + 7].startswith(f"  SOP text [{own}]: SOP-CC-012: keep the door shut")
    door = out.index("freezer-07.door_open/door_open  (discrete: door open)")
    assert out[door + 2] == "  on_delay 3m  [alarms.templates.ult_freezer.rules.door_open]"


def test_explain_an_unknown_unit_is_a_usage_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "-c", str(config), "--explain", "fr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coldwatch: no unit 'fr' in this configuration (units: crf-01, ")
