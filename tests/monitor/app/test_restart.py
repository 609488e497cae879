"""What ``coldwatch run`` does after its daemon stopped: the exit status a supervisor reads,
or (a restart without one) the process running itself again."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app.restart import EXIT_STOPPED, after_stop
from monitor.runtime.stop_record import StopRecord

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STOP = StopRecord("stop", AT, person="alice", os_user="alice", reason="defrost")
RESTART = StopRecord("restart", AT, person="alice", os_user="alice", reason="new limits")
SIGNAL = StopRecord("signal", AT, signal="SIGTERM")
ARGV = ["/venv/bin/python", "/venv/bin/coldwatch", "run", "-c", "site.yaml"]


class Execs:
    def __init__(self, error: OSError | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.error = error

    def __call__(self, path: str, argv: list[str]) -> None:
        self.calls.append((path, argv))
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("supervised", [False, True])
def test_a_signal_exits_0(supervised: bool) -> None:
    execs = Execs()
    assert after_stop(SIGNAL, supervised=supervised, execv=execs) == 0
    assert after_stop(None, supervised=supervised, execv=execs) == 0
    assert execs.calls == []


def test_a_stop_exits_0_or_3_under_a_supervisor() -> None:
    assert after_stop(STOP, supervised=False, execv=Execs()) == 0
    assert after_stop(STOP, supervised=True, execv=Execs()) == EXIT_STOPPED == 3


def test_a_supervised_restart_exits_0_for_the_supervisor_to_start_it() -> None:
    execs = Execs()
    assert after_stop(RESTART, supervised=True, execv=execs) == 0 and execs.calls == []


def test_an_unsupervised_restart_runs_the_same_command_again() -> None:
    execs = Execs()
    after_stop(RESTART, supervised=False, execv=execs, argv=ARGV)
    assert execs.calls == [(sys.executable, ARGV)]


def test_a_restart_that_cannot_run_again_says_so_and_exits_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    execs = Execs(FileNotFoundError(2, "No such file or directory"))
    assert after_stop(RESTART, supervised=False, execv=execs, argv=ARGV) == 1
    assert "it stays stopped: start it by hand" in caplog.text


def test_a_log_handler_on_a_closed_stream_does_not_stop_the_restart(tmp_path: Path) -> None:
    closed = (tmp_path / "gone.log").open("w")
    handler = logging.StreamHandler(closed)
    closed.close()
    logging.getLogger().addHandler(handler)
    try:
        execs = Execs()
        after_stop(RESTART, supervised=False, execv=execs, argv=ARGV)
    finally:
        logging.getLogger().removeHandler(handler)
    assert execs.calls == [(sys.executable, ARGV)]
