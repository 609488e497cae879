"""What ``coldwatch stop|restart --reason TEXT`` call: ask the daemon over its control socket,
then wait until it has stopped (or is serving again).

The daemon's process is known from the connection itself (``SO_PEERCRED``: the pid of the
process serving the socket, as this system numbers it), not from what it answers. It closes
the connection when it stops serving; ``stop`` then waits for that process to end,
``restart`` for a daemon to answer on the socket again (the same process after an ``exec``, or
a new one that systemd started).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alarms.ack.control_client import NO_DAEMON, PROTOCOL, ControlError, connect, exchange

STOP_TIMEOUT = 60.0
"""Seconds ``stop`` waits for the daemon to finish (systemd's ``TimeoutStopSec`` is 30)."""
POLL = 0.1
TIMED_OUT = "timeout"


@dataclass(frozen=True)
class Stopped:
    """The daemon that was asked (``pid``), the person it acted for, and for a restart the
    process serving the socket again (``new_pid``)."""

    pid: int | None
    person: str
    new_pid: int | None = None


def peer_pid(sock: socket.socket) -> int | None:
    """The pid of the process at the other end (Linux ``SO_PEERCRED``; None elsewhere)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux
        return None
    size = struct.calcsize("3i")
    pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, size))
    return int(pid) or None


def process_ended(pid: int) -> bool:
    """Whether process ``pid`` has ended (gone, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


def ask_to_stop(
    socket_path: Path | str,
    reason: str,
    *,
    restart: bool = False,
    timeout: float = STOP_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
) -> Stopped:
    """Ask the daemon to stop (or restart) for ``reason`` and wait up to ``timeout`` seconds
    for it to happen; raise :class:`ControlError` when refused, unreachable or too slow
    (reason ``timeout``)."""
    deadline = clock() + timeout
    with connect(socket_path) as sock:
        pid = peer_pid(sock)
        answer = exchange(sock, {"cmd": "restart" if restart else "stop", "reason": reason})
        person = str(answer.get("person") or "")
        _until_closed(sock, deadline, clock)
    if not restart:
        while pid is not None and not process_ended(pid):
            if clock() >= deadline:
                raise ControlError(
                    f"the daemon (pid {pid}) is still stopping after {timeout:g} s", TIMED_OUT
                )
            time.sleep(POLL)
        return Stopped(pid, person)
    return Stopped(pid, person, _serving_again(socket_path, deadline, timeout, clock))


def _until_closed(sock: socket.socket, deadline: float, clock: Callable[[], float]) -> None:
    """Wait for the daemon to close the connection: it has stopped serving."""
    while True:
        left = deadline - clock()
        if left <= 0:
            raise ControlError("the daemon accepted the stop but still serves", TIMED_OUT)
        sock.settimeout(left)
        try:
            if not sock.recv(4096):
                return
        except TimeoutError:
            continue
        except OSError:  # reset: gone as well
            return


def _serving_again(
    socket_path: Path | str, deadline: float, timeout: float, clock: Callable[[], float]
) -> int | None:
    """Wait for a daemon to answer on the socket again (a refusal is an answer); its pid."""
    while True:
        try:
            with connect(socket_path) as sock:
                pid = peer_pid(sock)
                try:
                    exchange(sock, {"cmd": "list"})
                except ControlError as exc:
                    if exc.reason == PROTOCOL:
                        raise
                return pid
        except ControlError as exc:
            if exc.reason not in (NO_DAEMON, PROTOCOL):
                raise
        if clock() >= deadline:
            raise ControlError(
                f"the daemon stopped, but none answers again after {timeout:g} s: see the "
                "log (journalctl -u coldwatch) for why it did not start",
                TIMED_OUT,
            )
        time.sleep(POLL)
