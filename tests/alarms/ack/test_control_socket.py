"""The control socket with real peer credentials: this test process's own OS user is mapped to
a person (or deliberately not), the CLI's client functions run in a thread as a separate
client would, and the daemon side is the real engine. Proves identity comes from the kernel,
never from the request; refusals are recorded and change nothing; the socket is 0660 and
cleaned up; the rendering for the terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pwd
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from alarms.ack import control_client as cc
from alarms.ack.control_socket import ControlServer, ReloadRequest
from alarms.model import AlarmState
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.alarm_engine import KEY

ME = pwd.getpwuid(os.getuid()).pw_name

Serve = Callable[[dict[str, str]], "asyncio.Future[ControlServer]"]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="cw-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def serve(
    stack: Stack,
    short_dir: Path,
) -> AsyncIterator[Callable[..., Any]]:
    servers: list[ControlServer] = []

    async def start(identities: dict[str, str], name: str = "control.sock") -> ControlServer:
        server = ControlServer(stack.service, short_dir / name, identities)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)


async def test_my_os_user_lists_and_acknowledges_as_its_person(
    stack: Stack,
    serve: Callable[..., Any],
) -> None:
    server = await serve({ME: "alice"})
    code = stack.code
    (listed,) = await call(cc.list_alarms, server.path)
    assert (listed.code, listed.state) == (code, AlarmState.UNACK)
    acked = await call(cc.ack, server.path, code, "moved to BF-02")
    assert acked.state is AlarmState.ACKED and acked.acked_by == "alice"
    assert stack.acks() == [("alice", "cli", "moved to BF-02")]
    assert (await call(cc.get_alarm, server.path, code)).ack_via == "cli"
    records = await call(cc.history, server.path, code)
    assert [r.action for r in records] == ["raised", "acknowledged"]
    assert stack.refused == []


async def test_the_socket_is_0660_and_removed_at_stop(
    serve: Callable[..., Any], short_dir: Path
) -> None:
    server = await serve({ME: "alice"})
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o660
    assert stat.S_ISSOCK(server.path.stat().st_mode)
    await server.stop()
    assert not server.path.exists()
    with pytest.raises(cc.ControlError) as info:
        await call(cc.list_alarms, server.path)
    assert info.value.reason == "no_daemon"
    assert "not running" in cc.render_error(info.value)


async def test_an_unmapped_os_user_is_refused_and_recorded(
    stack: Stack,
    serve: Callable[..., Any],
) -> None:
    server = await serve({"someone-else": "alice"})
    for fn, args in ((cc.list_alarms, ()), (cc.ack, (stack.code, "moved"))):
        with pytest.raises(cc.ControlError) as info:
            await call(fn, server.path, *args)
        assert info.value.reason == "unknown_user"
        assert ME in info.value.message
    assert stack.harness.view(KEY).state is AlarmState.UNACK
    assert stack.reasons() == ["unknown_user", "unknown_user"]
    assert stack.refused[1].who == f"uid {os.getuid()} ({ME})"
    assert stack.refused[1].target == stack.code


async def test_the_person_is_never_taken_from_the_request(
    stack: Stack,
    serve: Callable[..., Any],
) -> None:
    server = await serve({ME: "alice"})
    payload = {"cmd": "ack", "id": stack.code, "comment": "x", "person": "bob"}
    with pytest.raises(cc.ControlError) as info:
        await call(cc.request, server.path, payload)
    assert info.value.reason == "bad_request"
    assert stack.acks() == [] and stack.reasons() == ["bad_request"]


async def test_refusals_of_the_cli(stack: Stack, serve: Callable[..., Any]) -> None:
    server = await serve({ME: "alice", "ghost": "nobody"})
    with pytest.raises(cc.ControlError) as no_comment:
        await call(cc.ack, server.path, stack.code, "   ")
    with pytest.raises(cc.ControlError) as unknown:
        await call(cc.ack, server.path, "A1008", "x")
    with pytest.raises(cc.ControlError) as bad_cmd:
        await call(cc.request, server.path, {"cmd": "reset", "id": stack.code})
    assert (no_comment.value.reason, unknown.value.reason) == ("no_comment", "unknown_alarm")
    assert bad_cmd.value.reason == "bad_request"
    assert cc.render_error(unknown.value) == (
        "coldwatch: refused (unknown_alarm): 'A1008' is not a valid alarm code (check digit)"
    )
    assert stack.reasons() == ["no_comment", "unknown_alarm", "bad_request"]
    assert stack.harness.view(KEY).state is AlarmState.UNACK


async def test_garbage_lines_get_an_answer_each(
    stack: Stack,
    serve: Callable[..., Any],
) -> None:
    server = await serve({ME: "alice"})

    def talk() -> list[dict[str, Any]]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(server.path))
            sock.sendall(b"not json\n[1, 2]\n" + json.dumps({"cmd": "list"}).encode() + b"\n")
            data = b""
            while data.count(b"\n") < 3:
                data += sock.recv(65536)
        return [json.loads(line) for line in data.splitlines()]

    bad, also_bad, good = await asyncio.to_thread(talk)
    assert bad["reason"] == also_bad["reason"] == "bad_request"
    assert good["ok"] is True and good["alarms"][0]["code"] == stack.code


async def test_a_stale_socket_is_replaced_a_live_one_is_not(
    serve: Callable[..., Any], short_dir: Path
) -> None:
    stale = short_dir / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(stale))
    leftover.close()  # the file stays, nobody listens: a daemon that died
    server = await serve({ME: "alice"}, "stale.sock")
    assert (await call(cc.list_alarms, server.path)) != []
    with pytest.raises(OSError, match="another coldwatch daemon"):
        await serve({ME: "alice"}, "stale.sock")
    (short_dir / "plain").write_text("x")
    with pytest.raises(OSError, match="not a socket"):
        await serve({ME: "alice"}, "plain")


async def test_rendering(stack: Stack) -> None:
    view = stack.harness.view(KEY)
    table = cc.render_alarms([view], UTC)
    header, row = table.splitlines()
    assert header.split() == ["CODE", "STATE", "PRIORITY", "SINCE", "EQUIPMENT", "VALUE", "MESSAGE"]
    assert row.startswith(f"{stack.code}  UNACK  ")
    assert "2026-03-01 12:00:00 UTC" in row and "11.0 C" in row
    assert cc.render_alarms([], UTC) == "No active alarms."
    # values line up on the decimal point, with the channel's decimals where it sets them
    views = [
        view,
        dataclasses.replace(view, value=-63.9, code="A2"),
        dataclasses.replace(view, value=1200.0, code="A3", source="other.channel"),
        dataclasses.replace(view, value=None, code="A4"),
    ]
    lines = cc.render_alarms(views, UTC, {view.source: 2}).splitlines()
    start, end = lines[0].index("VALUE"), lines[0].index("MESSAGE")
    assert [line[start:end] for line in lines] == [
        "VALUE      ",
        "  11.00 C  ",
        " -63.90 C  ",
        "1200.0  C  ",
        "   -       ",
    ]
    acked = stack.service.commands.acknowledge(stack.code, "alice", "moved", via="cli")
    assert cc.render_ack(acked, UTC) == (
        f"{stack.code} acknowledged by alice at 2026-03-01 12:00:00 UTC (now ACKED): moved"
    )
    assert "acknowledged by alice" in cc.render_alarm(acked, UTC)
    lines = cc.render_history(stack.harness.engine.history(stack.code), UTC).splitlines()
    assert lines[1].split()[3:] == ["acknowledged", "ACKED", "by", "alice", "via", "cli:", "moved"]


# --- reload ----------------------------------------------------------------------------------


async def test_reload_hands_the_daemon_who_from_the_kernel_and_why(
    stack: Stack, short_dir: Path
) -> None:
    asked: list[ReloadRequest] = []

    def on_reload(request: ReloadRequest) -> dict[str, Any] | str:
        asked.append(request)
        return "the file has errors" if request.reason == "broken" else {"version": 3}

    server = ControlServer(stack.service, short_dir / "c.sock", {ME: "alice"}, on_reload=on_reload)
    await server.start()
    try:
        answer = await call(cc.request, server.path, {"cmd": "reload", "reason": " new limit "})
        assert answer == {"ok": True, "reloaded": {"version": 3}, "person": "alice"}
        assert asked == [ReloadRequest("new limit", "alice", ME)]
        with pytest.raises(cc.ControlError, match="the file has errors") as refused:
            await call(cc.request, server.path, {"cmd": "reload", "reason": "broken"})
        assert refused.value.reason == "unavailable"
        with pytest.raises(cc.ControlError, match="a reason is required"):
            await call(cc.request, server.path, {"cmd": "reload", "reason": "  "})
        with pytest.raises(cc.ControlError, match="never from the request"):
            await call(cc.request, server.path, {"cmd": "reload", "reason": "x", "person": "bob"})
        assert len(asked) == 2  # the refused requests never reached the daemon
    finally:
        await server.stop()


async def test_reload_is_refused_by_a_server_without_a_daemon_to_reload(
    stack: Stack, serve: Callable[..., Any]
) -> None:
    server = await serve({ME: "alice"})
    with pytest.raises(cc.ControlError, match="does not reload"):
        await call(cc.request, server.path, {"cmd": "reload", "reason": "x"})


async def test_extra_commands_get_the_caller_from_the_kernel(stack: Stack, short_dir: Path) -> None:
    """Commands beside the alarm ones (``coldwatch user``): served by the daemon's handler with
    the caller the kernel names, mapped or not; never with a caller named in the request."""
    seen: list[tuple[Any, dict[str, Any]]] = []

    async def handler(caller: Any, request: dict[str, Any]) -> dict[str, Any]:
        seen.append((caller, request))
        return {"ok": request.get("n") != 0, "error": "no", "reason": "refused"}

    server = ControlServer(
        stack.service, short_dir / "x.sock", {}, extra_commands={"user.list": handler}
    )
    await server.start()
    try:
        answer = await call(cc.request, server.path, {"cmd": "user.list", "n": 1})
        assert answer["ok"]
        [(caller, request)] = seen
        assert request == {"cmd": "user.list", "n": 1}
        assert (caller.uid, caller.os_user, caller.person) == (os.getuid(), ME, None)
        for forged in ({"person": "ada"}, {"os_user": "root"}):
            with pytest.raises(cc.ControlError) as info:
                await call(cc.request, server.path, {"cmd": "user.list", **forged})
            assert info.value.reason == "bad_request"
        with pytest.raises(cc.ControlError) as info:  # not an extra command: the alarm rules
            await call(cc.request, server.path, {"cmd": "list"})
        assert info.value.reason == "unknown_user"
        assert len(seen) == 1
    finally:
        await server.stop()
