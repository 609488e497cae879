"""``coldwatch stop|restart`` before any daemon is asked: what the configuration allows, the
reason it needs, and the exit status (0 done, 1 refused or not running, 2 usage or
configuration). The daemon side is in test_planned_stop.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.app.cli import main
from tests.support.alarm_engine import config_data
from tests.support.fakes import write_config


def site(tmp_path: Path, **extra: Any) -> str:
    data = {**config_data(), "store": {"path": str(tmp_path / "cw.db")}, **extra}
    return str(write_config(tmp_path, data))


@pytest.mark.parametrize("command", ["stop", "restart"])
def test_no_daemon_running_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, "-c", site(tmp_path), "--reason", "x"]) == 1
    assert "the coldwatch daemon is not running (no control socket at" in capsys.readouterr().err


def test_without_alarms_there_is_no_control_socket_to_ask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path, alarms=None)
    assert main(["stop", "-c", config, "--reason", "x"]) == 2
    err = capsys.readouterr().err
    assert "this configuration has no alarms: section" in err
    assert "stop it with SIGTERM instead (systemctl stop coldwatch)" in err


def test_a_control_socket_turned_off_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path, acknowledgement={"control_socket": {"enabled": False}})
    assert main(["restart", "-c", config, "--reason", "x"]) == 2
    assert "the control socket is turned off" in capsys.readouterr().err


def test_a_reason_is_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = site(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["stop", "-c", config])
    assert info.value.code == 2 and "--reason" in capsys.readouterr().err
    assert main(["stop", "-c", config, "--reason", "  "]) == 2
    assert "--reason must say why" in capsys.readouterr().err


def test_no_paging_secret_is_needed_to_ask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_TOKEN", raising=False)
    hook = {"type": "webhook", "url_env": "NOT_SET_TOKEN"}
    config = site(tmp_path, notifiers={"chat": hook})
    assert main(["stop", "-c", config, "--reason", "x"]) == 1  # not running: no secret asked
    assert "not running" in capsys.readouterr().err
