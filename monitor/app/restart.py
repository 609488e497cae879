"""What ``coldwatch run`` does once its daemon has stopped: exit, or run again.

- A signal (``systemctl stop|restart``, ``kill``, Ctrl-C): exit 0; whoever sent it decides
  what comes next.
- ``coldwatch stop``: exit 0; under ``--supervised`` (the systemd unit) exit
  :data:`EXIT_STOPPED`, which the unit's ``RestartPreventExitStatus=3`` keeps ``Restart=always``
  from starting again (and ``SuccessExitStatus=3`` counts as a success).
- ``coldwatch restart``: under ``--supervised``, exit 0 and systemd's ``Restart=always`` starts
  it again after ``RestartSec``. Without a supervisor the process runs itself again
  (``exec``: the same pid, command line and environment; the configuration and the code read
  anew), so ``restart`` restarts wherever ``coldwatch run`` was started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from monitor.app.cli_common import EXIT_FAILED, EXIT_OK
from monitor.runtime.stop_record import StopRecord

log = logging.getLogger(__name__)

EXIT_STOPPED = 3
"""``coldwatch run --supervised`` after ``coldwatch stop``: stopped on purpose, do not restart."""

Exec = Callable[[str, list[str]], object]


class _Flushable(Protocol):
    def flush(self) -> None: ...


def _flush_output() -> None:
    """Flush what is buffered before the process image is replaced; a stream already closed
    (a handler left behind, an output pipe gone) must not stop the restart."""
    streams: list[_Flushable] = [*logging.getLogger().handlers, sys.stdout, sys.stderr]
    for stream in streams:
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def after_stop(
    record: StopRecord | None,
    *,
    supervised: bool,
    execv: Exec = os.execv,
    argv: Sequence[str] | None = None,
) -> int:
    """The exit status of ``coldwatch run`` after its daemon stopped for ``record``, or
    (a restart without a supervisor) no return: the process becomes a new ``coldwatch run``."""
    if record is None or record.command == "signal":
        return EXIT_OK
    if record.command == "stop":
        return EXIT_STOPPED if supervised else EXIT_OK
    if supervised:
        return EXIT_OK  # Restart=always starts it again
    command = list(sys.orig_argv if argv is None else argv)
    log.warning("restarting: %s", " ".join(command))
    _flush_output()
    try:
        execv(sys.executable, command)
    except OSError as exc:
        log.error("cannot run coldwatch again (%s); it stays stopped: start it by hand", exc)
        return EXIT_FAILED
    return EXIT_OK  # only an execv that returns (a test's) gets here
