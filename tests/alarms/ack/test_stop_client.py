"""``coldwatch stop|restart`` over the control socket with real peer credentials: the request
carries a reason, the person comes from the kernel; the client waits for the daemon to stop
serving, then for its process to end (stop) or for a daemon to answer again (restart)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from alarms.ack import control_client as cc
from alarms.ack.control_socket import ControlServer, StopRequest
from alarms.ack.stop_client import ask_to_stop, process_ended
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.peer_as import NOBODY, NOGROUP, request_as

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def socket_path() -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer."""
    folder = Path(tempfile.mkdtemp(prefix="cw-"))
    yield folder / "control.sock"
    shutil.rmtree(folder, ignore_errors=True)


class Daemonish:
    """The daemon's side: records each request, then (like the daemon) stops serving; for a
    restart it serves again, as the process that ran itself again would."""

    def __init__(self, stack: Stack, path: Path, identities: dict[str, str]) -> None:
        self.stack = stack
        self.path = path
        self.identities = identities
        self.requests: list[StopRequest] = []
        self.refuse: str | None = None
        self.server: ControlServer | None = None
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> ControlServer:
        self.server = ControlServer(
            self.stack.service, self.path, self.identities, on_stop=self.on_stop
        )
        await self.server.start()
        return self.server

    def on_stop(self, request: StopRequest) -> str | None:
        if self.refuse is not None:
            return self.refuse
        self.requests.append(request)
        self.tasks.append(asyncio.get_running_loop().create_task(self._stop(request.restart)))
        return None

    async def _stop(self, restart: bool) -> None:
        await asyncio.sleep(0.2)
        assert self.server is not None
        await self.server.stop()
        if restart:
            await asyncio.sleep(0.3)
            await self.start()

    async def close(self) -> None:
        await asyncio.gather(*self.tasks)
        if self.server is not None:
            await self.server.stop()


@pytest.fixture
async def daemon(stack: Stack, socket_path: Path) -> AsyncIterator[Daemonish]:
    d = Daemonish(stack, socket_path, {ME: "alice"})
    await d.start()
    yield d
    await d.close()


async def test_a_restart_is_asked_as_the_person_the_kernel_names_and_waited_for(
    daemon: Daemonish, socket_path: Path
) -> None:
    done = await asyncio.to_thread(ask_to_stop, socket_path, "  new probe  ", restart=True)
    assert (done.pid, done.person, done.new_pid) == (os.getpid(), "alice", os.getpid())
    assert daemon.requests == [StopRequest(True, "new probe", "alice", ME)]


async def test_a_stop_waits_for_the_process_to_end(daemon: Daemonish, socket_path: Path) -> None:
    """The daemon here is this test's own process, which does not end: the client says so."""
    with pytest.raises(cc.ControlError) as info:
        await asyncio.to_thread(ask_to_stop, socket_path, "defrost", timeout=1.5)
    assert info.value.reason == "timeout"
    assert info.value.message == f"the daemon (pid {os.getpid()}) is still stopping after 1.5 s"
    assert [r.restart for r in daemon.requests] == [False]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"cmd": "stop"}, "bad_request"),
        ({"cmd": "stop", "reason": "   "}, "bad_request"),
        ({"cmd": "stop", "reason": 7}, "bad_request"),
        ({"cmd": "restart", "reason": "x", "person": "bob"}, "bad_request"),
    ],
)
async def test_no_reason_or_a_person_in_the_request_is_refused(
    daemon: Daemonish, socket_path: Path, payload: dict[str, Any], reason: str
) -> None:
    with pytest.raises(cc.ControlError) as info:
        await asyncio.to_thread(cc.request, socket_path, payload)
    assert info.value.reason == reason
    assert daemon.requests == [] and daemon.stack.reasons() == [reason]


async def test_an_unmapped_os_user_cannot_stop_it(stack: Stack, socket_path: Path) -> None:
    d = Daemonish(stack, socket_path, {"someone-else": "alice"})
    await d.start()
    try:
        if os.getuid() == 0:  # root may always stop (test_daemon_access.py): ask as nobody
            socket_path.parent.chmod(0o711)
            os.chown(socket_path, -1, NOGROUP)
            request = {"cmd": "stop", "reason": "defrost"}
            answer = await asyncio.to_thread(request_as, NOBODY, NOGROUP, socket_path, request)
            assert answer["reason"] == "unknown_user" and "nobody" in answer["error"]
        else:
            with pytest.raises(cc.ControlError) as info:
                await asyncio.to_thread(ask_to_stop, socket_path, "defrost")
            assert info.value.reason == "unknown_user" and ME in info.value.message
        assert d.requests == []
    finally:
        await d.close()


async def test_the_daemon_may_refuse(daemon: Daemonish, socket_path: Path) -> None:
    daemon.refuse = "coldwatch is already stopping (SIGTERM, sender unknown)"
    with pytest.raises(cc.ControlError) as info:
        await asyncio.to_thread(ask_to_stop, socket_path, "defrost")
    assert (info.value.reason, info.value.message) == ("unavailable", daemon.refuse)


async def test_no_daemon_is_said_so(socket_path: Path) -> None:
    with pytest.raises(cc.ControlError) as info:
        await asyncio.to_thread(ask_to_stop, socket_path, "defrost")
    assert info.value.reason == "no_daemon"


def test_a_process_has_ended_once_it_exits_even_unreaped() -> None:
    assert not process_ended(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while not process_ended(child.pid):  # a zombie until waited for: ended all the same
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert child.poll() == 0 and process_ended(child.pid)
