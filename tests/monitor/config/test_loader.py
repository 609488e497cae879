"""Configuration: golden bad cases, the example files, secrets, includes and the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers import registry
from monitor.app.cli import main
from monitor.app.config import ConfigError, load
from tests.support.paths import REPO

ROOT = REPO
CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())
# config/sim-*.yaml describe simulated devices (``coldwatch sim``), not a coldwatch site
EXAMPLES = [p for p in sorted((ROOT / "config").glob("*.yaml")) if not p.name.startswith("sim-")]
# what config/alarms-example.yaml reads from the environment (its comments say what to export):
# secrets are resolved when the configuration is checked, so check-config needs them set
EXAMPLE_SECRETS = {
    "TWILIO_AUTH_TOKEN": "not-a-real-token",
    "SMTP_PASSWORD": "not-a-real-password",
    **{f"PIN_{name}": "4711" for name in ("ALICE", "BOB", "CAROL", "SAM", "MARIA", "QUINN")},
}


@pytest.fixture(autouse=True)
def _builtin_drivers_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Golden messages list the available drivers: keep test-only drivers out of them."""
    monkeypatch.setattr(registry, "_registered", {})
    registry._plugins.cache_clear()
    yield
    monkeypatch.undo()
    registry._plugins.cache_clear()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_bad_config(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each case folder holds config.yaml and expected.txt: the exact error lines."""
    monkeypatch.chdir(case)
    with pytest.raises(ConfigError) as err:
        load("config.yaml")
    got = "\n".join(str(i) for i in err.value.issues) + "\n"
    expected_file = case / "expected.txt"
    if os.environ.get("COLDWATCH_REGEN_GOLDEN"):
        expected_file.write_text(got)
    assert got == expected_file.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_config_exits_2_and_prints_every_error(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(case)
    assert main(["check-config", "-c", "config.yaml"]) == 2
    assert capsys.readouterr().out == (case / "expected.txt").read_text()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_configs_are_valid(
    example: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", "-c", str(example)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "ok"


def test_example_describes_the_tsx_map() -> None:
    loaded = load(ROOT / "config" / "example.yaml")
    channels = loaded.config.channels()
    assert "freezer-07.cabinet_temp" in channels
    point = loaded.point_settings["freezer-07.cabinet_temp"]
    assert point.model_dump()["address"] == 0x540
    assert loaded.sha256 == load(ROOT / "config" / "example.yaml").sha256


def test_a_directory_of_files_is_one_configuration(tmp_path: Path) -> None:
    (tmp_path / "10-site.yaml").write_text("site: {id: t, name: T}\n")
    (tmp_path / "20-devices.yaml").write_text(
        "devices:\n  - {id: d1, driver: modbus, settings: {transport: tcp, host: 127.0.0.1}}\n"
    )
    (tmp_path / "30-more.yaml").write_text(
        "devices:\n  - {id: d1, driver: modbus, settings: {transport: tcp, host: 127.0.0.1}}\n"
    )
    with pytest.raises(ConfigError) as err:
        load(tmp_path)
    (issue,) = err.value.issues
    assert issue.file.endswith("30-more.yaml") and issue.line == 2
    assert issue.path == "devices[1].id" and "duplicate device id 'd1'" in issue.message
    assert "20-devices.yaml:2" in issue.message


def test_check_config_without_secrets_checks_the_rest(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """In CI or before the secrets are installed: where each secret comes from is checked,
    not its value; without the option a missing secret is an error naming the variable."""
    example = ROOT / "config" / "alarms-example.yaml"
    for name in EXAMPLE_SECRETS:
        monkeypatch.delenv(name, raising=False)
    assert main(["check-config", "--without-secrets", "-c", str(example)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "ok"
    assert main(["check-config", "-c", str(example)]) == 2
    assert "PIN_ALICE" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        example.read_text().replace(
            "auth_token_env: TWILIO_AUTH_TOKEN",
            "auth_token: x\n    auth_token_env: TWILIO_AUTH_TOKEN",
            1,
        )
    )
    assert main(["check-config", "--without-secrets", "-c", str(broken)]) == 2
    assert "set only one of auth_token, auth_token_env" in capsys.readouterr().out
