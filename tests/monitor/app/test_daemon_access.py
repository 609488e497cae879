"""Who may ``coldwatch stop|restart|reload`` over the real control socket: the OS user from
the kernel's peer credentials (a forked child dropped to ``nobody``, and root itself) ->
person -> linked user -> role. A viewer is refused (``not_allowed``, recorded in the audit
trail with who, why they said and why not); a supervisor stops, only an admin reloads; root
always stops, mapped or not; a store without users keeps the mapping's rule. And in a real
daemon: the refusal exits the command line with 1 and is in the store's audit trail."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alarms.ack.control_socket import ControlServer, ReloadRequest, StopRequest
from monitor.app.cli import main as cli_main
from monitor.app.daemon_access import DaemonAccess
from monitor.identity.admin import UserAdmin
from monitor.identity.model import Actor
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role
from monitor.store.base import AuditEntry, AuditQuery
from tests.alarms.conftest import engine_factory  # noqa: F401
from tests.support.ack import Stack, stack_fixture  # noqa: F401
from tests.support.ack_listener import Site, site_fixture  # noqa: F401
from tests.support.identity import cheap_hasher, make_store
from tests.support.identity_web import add_user
from tests.support.peer_as import NOBODY, NOGROUP, request_as

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="changes uid: needs root")

ADMIN = Actor("boss", "user")


@dataclass
class Served:
    server: ControlServer
    records: IdentityRecords
    audit: list[AuditEntry]
    stops: list[StopRequest] = field(default_factory=list)
    reloads: list[ReloadRequest] = field(default_factory=list)

    async def as_nobody(self, cmd: str, reason: str = "new probe") -> dict[str, Any]:
        request = {"cmd": cmd, "reason": reason}
        return await asyncio.to_thread(request_as, NOBODY, NOGROUP, self.server.path, request)

    async def as_root(self, cmd: str, reason: str = "maintenance") -> dict[str, Any]:
        request = {"cmd": cmd, "reason": reason}
        return await asyncio.to_thread(request_as, 0, 0, self.server.path, request)

    def role(self, role: Role) -> None:
        UserAdmin(self.records, self.server.service.clock.now, hasher=cheap_hasher()).set_role(
            ADMIN, "ned-u", role, "the test"
        )


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cw-"))
    path.chmod(0o711)  # nobody may reach the socket (its group may connect)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def serve(stack: Stack, folder: Path, identities: dict[str, str]) -> Served:
    records = IdentityRecords(make_store(folder / "s.db"))
    audit: list[AuditEntry] = []
    access = DaemonAccess(records, stack.clock, audit.extend)
    served: Served

    def on_stop(request: StopRequest) -> str | None:
        served.stops.append(request)
        return None

    def on_reload(request: ReloadRequest) -> dict[str, Any] | str:
        served.reloads.append(request)
        return {"version": 2}

    server = ControlServer(
        stack.service,
        folder / "control.sock",
        identities,
        group="nogroup",
        on_stop=on_stop,
        on_reload=on_reload,
        authorise=access.check,
    )
    served = Served(server, records, audit)
    await server.start()
    return served


@pytest.fixture
async def served(stack: Stack, folder: Path) -> AsyncIterator[Served]:
    running = await serve(stack, folder, {"nobody": "ned"})
    try:
        yield running
    finally:
        await running.server.stop()
        running.records.close()


def add_ned(served: Served, role: Role) -> None:
    add_user(served.records, "boss", Role.ADMIN)
    add_user(served.records, "ned-u", role, person="ned")


async def test_without_users_the_mapping_decides_as_before(served: Served) -> None:
    assert (await served.as_nobody("stop"))["ok"] is True
    assert [(r.person, r.os_user, r.reason) for r in served.stops] == [
        ("ned", "nobody", "new probe")
    ]
    assert served.audit == []


async def test_a_viewer_is_refused_and_the_refusal_is_audited(served: Served, stack: Stack) -> None:
    add_ned(served, Role.VIEWER)
    for cmd in ("stop", "restart", "reload"):
        answer = await served.as_nobody(cmd, reason=f"try {cmd}")
        assert (answer["ok"], answer["reason"]) == (False, "not_allowed"), answer
    assert served.stops == [] and served.reloads == []
    assert [(e.action, e.person, e.user_id, e.os_user, e.reason) for e in served.audit] == [
        ("daemon.stop_refused", "ned", "ned-u", "nobody", "try stop"),
        ("daemon.restart_refused", "ned", "ned-u", "nobody", "try restart"),
        ("daemon.reload_refused", "ned", "ned-u", "nobody", "try reload"),
    ]
    assert served.audit[0].detail is not None
    assert served.audit[0].detail["refused"] == (
        "stop needs the operate_daemon permission (supervisor or admin); user ned-u is viewer"
    )
    assert served.audit[2].detail == {
        "refused": "reload needs the reload_config permission (admin); user ned-u is viewer",
        "uid": NOBODY,
    }
    assert stack.reasons() == ["not_allowed"] * 3  # and on the control socket's refusals


async def test_a_supervisor_stops_only_an_admin_reloads(served: Served) -> None:
    add_ned(served, Role.SUPERVISOR)
    assert (await served.as_nobody("restart"))["stopping"] == "restart"
    assert (await served.as_nobody("reload"))["reason"] == "not_allowed"
    served.role(Role.ADMIN)
    assert (await served.as_nobody("reload"))["reloaded"] == {"version": 2}
    assert [(r.restart, r.person) for r in served.stops] == [(True, "ned")]
    assert [(r.person, r.os_user) for r in served.reloads] == [("ned", "nobody")]
    assert [e.action for e in served.audit] == ["daemon.reload_refused"]


async def test_a_disabled_user_is_refused(served: Served) -> None:
    add_ned(served, Role.ADMIN)
    add_user(served.records, "boss2", Role.ADMIN)
    UserAdmin(served.records, served.server.service.clock.now, hasher=cheap_hasher()).disable(
        Actor("boss2", "user"), "ned-u", "left"
    )
    answer = await served.as_nobody("stop")
    assert answer["reason"] == "not_allowed" and "user ned-u is disabled" in answer["error"]


async def test_root_always_stops_mapped_or_not_and_is_recorded_as_root(served: Served) -> None:
    add_ned(served, Role.VIEWER)
    assert (await served.as_root("stop"))["ok"] is True
    assert (await served.as_root("restart"))["ok"] is True
    assert [(r.restart, r.person, r.os_user) for r in served.stops] == [
        (False, None, "root"),
        (True, None, "root"),
    ]
    answer = await served.as_root("reload")  # root's reload follows the rule: no person here
    assert answer["reason"] == "unknown_user" and served.reloads == []


async def test_refused_queries_never_throttle_roots_stop(served: Served) -> None:
    """A root script polling ``alarms list`` as an unmapped user spends the throttle's budget;
    root's stop with a reason still goes through."""
    add_ned(served, Role.VIEWER)
    answers = [await served.as_root("list") for _ in range(25)]
    assert answers[-1]["reason"] == "rate_limited"
    assert (await served.as_root("stop"))["ok"] is True
    assert (await served.as_root("list"))["reason"] == "rate_limited"


async def test_a_real_daemon_refuses_and_the_command_line_exits_1(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """This test's OS user (root) maps to Alice, a technician: root may stop, never reload."""
    config = site.daemon.loaded.sources[0]
    code = await asyncio.to_thread(cli_main, ["reload", "--reason", "new limits", "-c", config])
    assert code == 1
    err = capsys.readouterr().err
    assert "reload needs the reload_config permission (admin); user alice-u is technician" in err
    assert site.daemon.store is not None
    audited = site.daemon.store.audit_entries(AuditQuery(action="daemon.reload_refused"))
    assert [(e.person, e.user_id, e.os_user, e.reason, e.method) for e in audited] == [
        ("alice", "alice-u", "root", "new limits", "cli")
    ]


def test_a_user_store_that_cannot_be_read_refuses_with_an_answer() -> None:
    """A broken store never drops the request (no traceback, no silence): a mapped person is
    refused with why, recorded; root still stops."""
    from datetime import UTC, datetime

    from alarms.ack.control_requests import Caller
    from monitor.core.clock import FakeClock
    from monitor.store.base import StoreError

    class Broken:
        def users(self) -> list[object]:
            raise StoreError("database disk image is malformed")

    written: list[AuditEntry] = []
    access = DaemonAccess(Broken(), FakeClock(datetime(2026, 12, 8, tzinfo=UTC)), written.extend)  # type: ignore[arg-type]
    why = access.check("stop", Caller(1000, "alice", "alice"), "maintenance")
    assert why is not None and "cannot be read" in why and "malformed" in why
    assert [e.action for e in written] == ["daemon.stop_refused"]
    assert access.check("stop", Caller(0, "root", None), "maintenance") is None
