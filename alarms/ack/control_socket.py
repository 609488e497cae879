"""The command line's way in: a Unix socket served by the daemon, JSON lines.

Who is asking is taken from the kernel, never from the request: the peer credentials of the
connection (``SO_PEERCRED``: the uid of the connecting process) give the OS user name, which
``people[].os_users`` maps to a coldwatch person. An unmapped user is refused (and recorded).
The socket file is ``0660`` (optionally owned by an operators' group): other users cannot even
connect.

Requests, one JSON object per line, answered by one line each::

    {"cmd": "list"}                         -> {"ok": true, "alarms": [AlarmView...]}
    {"cmd": "get", "id": "A1007"}           -> {"ok": true, "alarm": AlarmView}
    {"cmd": "history", "id": "A1007"}       -> {"ok": true, "records": [AlarmRecord...]}
    {"cmd": "ack", "id": "A1007", "comment": "moved to BF-02"}
                                            -> {"ok": true, "alarm": AlarmView}
    {"cmd": "stop", "reason": "new probe"}  -> {"ok": true, "stopping": "stop", "pid": 4711}
    {"cmd": "restart", "reason": "..."}     -> {"ok": true, "stopping": "restart", "pid": 4711}
    {"cmd": "reload", "reason": "new limit"} -> {"ok": true, "reloaded": {...}, "person": ...}
    anything refused                        -> {"ok": false, "error": "...", "reason": "..."}

Other commands than the alarm ones (``user.add``... of ``coldwatch user``) are served by the
handlers the daemon gives as ``extra_commands``, by name: each is awaited with the
:class:`Caller` (from the kernel, like every identity here) and the request, and answers a
JSON object. They decide who may ask themselves (a user command needs an admin, or no user at
all for the first one), so an OS user not mapped to a person reaches them; the request never
says who the caller is.

``stop``, ``restart`` and ``reload`` are first put to ``authorise`` (the daemon's role check:
``not_allowed`` when it refuses); ``root`` (uid 0) reaches it for ``stop`` and ``restart``
even when mapped to no person (systemd, operations). ``stop`` and ``restart`` hand the daemon
a :class:`StopRequest` (``on_stop``): the person and OS user from the peer credentials, the
reason from the request (required). The daemon records
it and stops (or restarts); the connection is closed when it stops serving. ``reload`` hands it
a :class:`ReloadRequest` (``on_reload``) in the same way: the daemon reads its configuration
anew, takes it or says why not, and records who asked and why in the audit trail.

Bounded: a line of at most 64 KiB (a longer one is refused and the connection closed), at
most 32 connections at once, an idle connection closed after a minute. An OS user not mapped
to a person whose requests keep coming is answered ``rate_limited`` for a while
(:class:`~alarms.ack.throttle.FailureThrottle`, the HTTP listeners' 429); a mapped user is
proven by the kernel, and like a valid token or signature never throttled.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import logging
import os
import pwd
import socket
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alarms.ack.acknowledger import Acknowledger
from alarms.ack.control_requests import (
    Authorise,
    Caller,
    ExtraCommand,
    OnReload,
    OnStop,
    ReloadRequest,
    StopRequest,
)
from alarms.ack.refusals import Reason
from alarms.ack.throttle import FailureThrottle
from alarms.ack.wire import error_json, record_to_json
from alarms.model import AlarmCommandError

__all__ = [
    "Authorise",
    "Caller",
    "ControlServer",
    "ExtraCommand",
    "OnReload",
    "OnStop",
    "ReloadRequest",
    "StopRequest",
]

STOP_COMMANDS = ("stop", "restart")  # a tuple: `in` must not hash an unhashable cmd
log = logging.getLogger("alarms.ack")

VIA = "cli"
MAX_LINE = 64 * 1024
IDLE_TIMEOUT = 60.0
MAX_CLIENTS = 32
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Peer:
    uid: int
    user: str | None
    person: str | None

    @property
    def who(self) -> str:
        return f"uid {self.uid} ({self.user or 'no user name'})"


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end (Linux ``SO_PEERCRED``)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux
        raise OSError("peer credentials (SO_PEERCRED) are not available on this system")
    size = struct.calcsize("3i")
    _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, option, size))
    return int(uid)


class ControlServer:
    """``await start()`` creates the socket (replacing a stale one); ``await stop()``
    removes it. ``identities`` maps OS user names to person ids."""

    def __init__(
        self,
        service: Acknowledger,
        path: Path,
        identities: Mapping[str, str],
        *,
        mode: int = 0o660,
        group: str | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        throttle: FailureThrottle | None = None,
        max_clients: int = MAX_CLIENTS,
        on_stop: OnStop | None = None,
        on_reload: OnReload | None = None,
        extra_commands: Mapping[str, ExtraCommand] | None = None,
        authorise: Authorise | None = None,
    ) -> None:
        self.service = service
        self.authorise = authorise
        self.on_stop = on_stop
        self.on_reload = on_reload
        self.extra_commands = dict(extra_commands or {})
        self.path = path
        self.identities = dict(identities)
        self.mode = mode
        self.group = group
        self.idle_timeout = idle_timeout
        self.throttle = throttle or FailureThrottle(service.clock)
        self.max_clients = max_clients
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        _remove_stale(self.path)
        server = await asyncio.start_unix_server(self._client, path=str(self.path), limit=MAX_LINE)
        try:
            self.path.chmod(self.mode)
            if self.group is not None:
                os.chown(self.path, -1, grp.getgrnam(self.group).gr_gid)
        except BaseException:
            server.close()
            await server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            raise
        self._server = server
        log.info("control socket at %s", self.path)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def identify(self, sock: socket.socket) -> Peer:
        uid = peer_uid(sock)
        try:
            user: str | None = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = None
        return Peer(uid, user, self.identities.get(user) if user else None)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        try:
            peer = self.identify(writer.get_extra_info("socket"))
            if len(self._clients) >= self.max_clients:
                answer = self._refuse(peer, Reason.RATE_LIMITED, "too many connections")
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
                return
            if task is not None:
                self._clients.add(task)
            await self._serve(peer, reader, writer)
        except asyncio.CancelledError:
            pass  # stopping: end quietly (asyncio logs a cancelled connection task as an error)
        except (ConnectionError, OSError) as exc:
            log.debug("control client went away: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._clients.discard(task)

    async def _serve(
        self, peer: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    line = await reader.readline()
            except ValueError:  # over MAX_LINE: answered, then closed (the rest is unread)
                answer = self._refuse(peer, Reason.BAD_REQUEST, "request line too long")
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
                return
            except (TimeoutError, ConnectionError):
                return  # idle, or gone
            if not line:
                return
            extra = await self._extra(peer, line)
            answer = self.handle(peer, line) if extra is None else extra
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()

    def handle(self, peer: Peer, line: bytes) -> dict[str, Any]:
        """One request line from ``peer`` -> the answer."""
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):  # not UTF-8, not JSON, nested past any sense
            request = None
        # root's stop and restart are never throttled: a root script's refused queries must
        # not keep the system's administrator from stopping the daemon with a reason
        root_stop = (
            peer.uid == 0 and isinstance(request, dict) and request.get("cmd") in STOP_COMMANDS
        )
        wait = self.throttle.retry_after(peer.who) if peer.person is None and not root_stop else 0
        if wait:
            return self._refuse(
                peer, Reason.RATE_LIMITED, f"too many refused requests; try again in {wait} s"
            )
        if not isinstance(request, dict):
            return self._refuse(peer, Reason.BAD_REQUEST, "a request is one JSON object per line")
        cmd, target = request.get("cmd"), request.get("id")
        target = target if isinstance(target, str) else None
        if "person" in request:
            return self._refuse(
                peer,
                Reason.BAD_REQUEST,
                "the person is taken from your login, never from the request",
                target,
            )
        if peer.person is None and not root_stop:
            return self._refuse(
                peer,
                Reason.UNKNOWN_USER,
                f"OS user {peer.user or peer.uid} is not mapped to a coldwatch person "
                "(people[].os_users)",
                target,
            )
        if cmd in STOP_COMMANDS:
            return self._stop(peer, request, restart=cmd == "restart")
        if cmd == "reload":
            return self._reload(peer, request)
        assert peer.person is not None  # only root's stop and restart come this far without
        commands = self.service.commands
        if cmd == "list":
            return {"ok": True, "alarms": [v.to_json() for v in commands.active()]}
        if cmd not in ("get", "history", "ack"):
            return self._refuse(
                peer, Reason.BAD_REQUEST, f"unknown command {str(cmd)[:40]!r}", target
            )
        if not target:
            return self._refuse(peer, Reason.BAD_REQUEST, f"{cmd} needs an alarm id")
        if cmd == "ack":
            comment = request.get("comment")
            outcome = self.service.acknowledge_as(
                peer.person, target, comment if isinstance(comment, str) else "", VIA, peer.who
            )
            if not outcome.ok:
                return error_json(outcome.message, str(outcome.reason))
            assert outcome.alarm is not None
            return {"ok": True, "alarm": outcome.alarm.to_json()}
        try:
            if cmd == "get":
                return {"ok": True, "alarm": commands.get(target).to_json()}
            return {"ok": True, "records": [record_to_json(r) for r in commands.history(target)]}
        except AlarmCommandError as exc:
            return error_json(str(exc), Reason.UNKNOWN_ALARM.value)

    async def _extra(self, peer: Peer, line: bytes) -> dict[str, Any] | None:
        """The answer of an extra command (``extra_commands``); None when ``line`` is not
        one (then :meth:`handle` answers it)."""
        if not self.extra_commands:
            return None
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(request, dict):
            return None
        command = self.extra_commands.get(str(request.get("cmd")))
        if command is None:
            return None
        wait = self.throttle.retry_after(peer.who) if peer.person is None else 0
        if wait:
            return error_json(
                f"too many refused requests; try again in {wait} s", Reason.RATE_LIMITED.value
            )
        if "person" in request or "os_user" in request:
            return error_json(
                "who you are is taken from your login, never from the request",
                Reason.BAD_REQUEST.value,
            )
        answer = await command(Caller(peer.uid, peer.user, peer.person), request)
        if not answer.get("ok") and peer.person is None:
            self.throttle.failed(peer.who)
        return answer

    def _stop(self, peer: Peer, request: dict[str, Any], *, restart: bool) -> dict[str, Any]:
        """Hand a stop (or restart) to the daemon, as the person the kernel names."""
        reason = _reason(request)
        if not reason:
            return self._refuse(peer, Reason.BAD_REQUEST, "a reason is required (--reason TEXT)")
        refused = self._not_allowed(peer, "restart" if restart else "stop", reason)
        if refused is not None:
            return refused
        if self.on_stop is None:
            return self._refuse(
                peer, Reason.UNAVAILABLE, "this coldwatch is not stopped over its control socket"
            )
        os_user = peer.user or f"uid {peer.uid}"
        refusal = self.on_stop(StopRequest(restart, reason, peer.person, os_user))
        if refusal is not None:
            return self._refuse(peer, Reason.UNAVAILABLE, refusal)
        return {
            "ok": True,
            "stopping": "restart" if restart else "stop",
            "person": peer.person,
            "pid": os.getpid(),
        }

    def _reload(self, peer: Peer, request: dict[str, Any]) -> dict[str, Any]:
        """Hand a reload to the daemon, as the person the kernel names."""
        assert peer.person is not None
        reason = _reason(request)
        if not reason:
            return self._refuse(peer, Reason.BAD_REQUEST, "a reason is required (--reason TEXT)")
        refused = self._not_allowed(peer, "reload", reason)
        if refused is not None:
            return refused
        if self.on_reload is None:
            return self._refuse(
                peer, Reason.UNAVAILABLE, "this coldwatch does not reload over its control socket"
            )
        os_user = peer.user or f"uid {peer.uid}"
        done = self.on_reload(ReloadRequest(reason, peer.person, os_user))
        if isinstance(done, str):
            return self._refuse(peer, Reason.UNAVAILABLE, done)
        return {"ok": True, "reloaded": done, "person": peer.person}

    def _not_allowed(self, peer: Peer, command: str, reason: str) -> dict[str, Any] | None:
        """The refusal when ``authorise`` says the caller may not ``command``, else None."""
        caller = Caller(peer.uid, peer.user, peer.person)
        why = self.authorise(command, caller, reason) if self.authorise else None
        return None if why is None else self._refuse(peer, Reason.NOT_ALLOWED, why)

    def _refuse(
        self, peer: Peer, reason: Reason, message: str, target: str | None = None
    ) -> dict[str, Any]:
        if peer.person is None:  # only an unmapped user's requests spend from its budget
            self.throttle.failed(peer.who)
        self.service.refuse(VIA, peer.who, reason, message, peer.person, target)
        return error_json(message, reason.value)


def _reason(request: dict[str, Any]) -> str:
    text = request.get("reason")
    return text.strip()[:MAX_REASON] if isinstance(text, str) else ""


def _remove_stale(path: Path) -> None:
    """Remove a socket left by a daemon that died; refuse if one still answers there or if
    the path is something else."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket; not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise OSError(f"another coldwatch daemon is serving {path}")
