"""One exit-code rule for every command (0 ok; 1 a problem found or the daemon refused; 2 usage
or configuration error; 141 the reader closed the pipe), documented in the help; and the
messages that said something untrue or said it several times."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app.cli import build_parser, main
from monitor.app.cli_help import COMMAND_EXIT_CODES, EXIT_PIPE_CLOSED
from monitor.app.config import load
from monitor.core.model import Reading
from monitor.store.base import AlarmRecord
from monitor.store.factory import open_store
from monitor.store.sqlite import SQLiteStore
from tests.support.paths import REPO
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(90)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHANNEL = "freezer-07.cabinet_temp"


def example(tmp_path: Path, **changes: Any) -> Path:
    """config/example.yaml (no alarms: section) on a store in ``tmp_path``, devices on ports
    where nothing answers."""
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    data["store"]["path"] = str(tmp_path / "cw.db")
    for device in data["devices"]:
        device.update(interval="1s", timeout="500ms")
        device["settings"]["request_timeout"] = "200ms"
    data["devices"][0]["settings"]["port"] = free_port()
    data["devices"][1]["settings"]["serial_port"] = f"socket://127.0.0.1:{free_port()}"
    data.update(changes)
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def with_readings(config: Path) -> Path:
    store = open_store(load(config).config.store)
    store.append([Reading.good(CHANNEL, T0 + timedelta(seconds=i), -80.0) for i in range(50)], [])
    store.close()
    return config


def exit_code(argv: list[str]) -> int:
    """What ``coldwatch ARGV`` exits with (a command may end by SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        assert isinstance(exc.code, int)
        return exc.code


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Path]:
    """A daemon on the example configuration, which has no alarms: section."""
    config = example(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.app.cli", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "cw.db").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None
        yield config
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_alarms_without_an_alarms_section_say_so_while_the_daemon_runs(
    running: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alarms", "list", "-c", str(running)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == (
        "this configuration has no alarms: section, so coldwatch raises no alarms: "
        "there are none to list (docs/alarms.md describes the section)"
    )
    assert "not running" not in out.out + out.err
    for action in ("show", "history", "ack"):
        extra = ["--comment", "seen"] if action == "ack" else []
        assert main(["alarms", action, "A1007", *extra, "-c", str(running)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("coldwatch: this configuration has no alarms: section"), err


def test_alarms_with_the_control_socket_off_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example(
        tmp_path,
        alarms={"equipment": {"freezer-07": {"bind": {"temperature": "cabinet_temp"}}}},
        acknowledgement={"control_socket": {"enabled": False}},
    )
    data = yaml.safe_load(config.read_text())
    for room in data["locations"]:  # the freezer only: the incubator's probe needs a binding
        room["equipment"] = [e for e in room["equipment"] if e["id"] == "freezer-07"]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    assert exit_code(["alarms", "list", "-c", str(config)]) == 2
    assert "acknowledgement.control_socket.enabled: false" in capsys.readouterr().err


def test_exit_codes_of_each_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(example(tmp_path))
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: {id: x}\ndevices: 3\n")
    cases: list[tuple[list[str], int]] = [
        (["check-config", "-c", config], 0),
        (["check-config", "-c", str(broken)], 2),
        (["check-config", "-c", config, "--explain", "nope"], 2),
        (["status", "-c", config], 1),  # no store yet: nothing to read
        (["verify", "-c", config], 1),
        (["readings", "-c", config, "--channel", CHANNEL], 1),
        (["status", "-c", str(broken)], 2),
        (["verify", "-c", str(broken)], 2),
        (["alarms", "list", "-c", str(broken)], 2),
        (["route-test", "-c", str(broken), "--channel", CHANNEL], 2),
    ]
    for argv, code in cases:
        assert exit_code(argv) == code, argv
        capsys.readouterr()
    with_readings(Path(config))
    cases = [
        (["status", "-c", config], 0),
        (["verify", "-c", config], 0),
        (["readings", "-c", config, "--channel", CHANNEL], 0),
        (["readings", "-c", config, "--channel", "freezer-07.nope"], 2),
        (["route-test", "-c", config, "--channel", CHANNEL], 2),  # no escalation: section
    ]
    for argv, code in cases:
        assert exit_code(argv) == code, argv
        capsys.readouterr()
    for argv in (["nope"], ["status"], ["readings", "-c", config]):  # argparse: usage errors
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        capsys.readouterr()


def test_the_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes (every command):" in out
    for line in ("0    ok", "1    the check found a problem", "2    usage or configuration"):
        assert line in out
    assert "only `run` and `check-config`" in out
    for command in COMMAND_EXIT_CODES:
        with pytest.raises(SystemExit):
            main([command, "--help"] if command != "alarms" else [command, "list", "--help"])
        assert "exit codes: 0" in capsys.readouterr().out, command


def test_run_help_says_which_log_format_and_when() -> None:
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    text = " ".join(run.format_help().split())
    assert "as JSON lines" in text
    assert "unless the configuration sets logging.format: text" in text
    assert "`coldwatch demo` always logs plain text" in text


def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path) -> None:
    """`coldwatch readings ... | head`: the reader is gone before the output is written."""
    config = with_readings(example(tmp_path))
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        for argv in (["readings", "--channel", CHANNEL], ["status"], ["verify"]):
            done = subprocess.run(
                [sys.executable, "-m", "monitor.app.cli", *argv, "-c", str(config)],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
            )
            assert done.stderr == "", argv
            assert done.returncode == EXIT_PIPE_CLOSED == 141, argv
    finally:
        os.close(write_end)


def test_verify_names_the_table_and_row_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example(tmp_path)
    db = tmp_path / "cw.db"
    with SQLiteStore(db) as store:
        store.append_alarm_records(
            [
                AlarmRecord(T0, T0, "freezer-07.cabinet_temp/warm", "raised", "UNACK", code="A1")
                for _ in range(3)
            ]
        )
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER alarm_history_no_update")
        conn.execute("UPDATE alarm_history SET state = 'NORMAL' WHERE seq = 2")
    finally:
        conn.close()
    assert main(["verify", "-c", str(config)]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "FAILED: alarm history row 2: hash mismatch (row altered)"
