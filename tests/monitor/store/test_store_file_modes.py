"""Who may read the records: the store, its side files, the outbox and the state directory are
created 0640 and 0750 with the configured group, whatever the umask; a member of the group
can run ``coldwatch verify`` (while the daemon runs and after it stopped), a user outside it
is refused with one line.

The users are real: two throwaway OS accounts and a group made with useradd/groupadd (and
removed afterwards), the CLI run as each with setpriv. Needs root (skipped otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import site
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import monitor
from alarms.ack.replay import ReplayGuard
from alarms.ack.twilio_poller import PollState
from monitor.app.config import load
from monitor.app.daemon import Daemon
from monitor.core.file_access import FileAccess, group_id
from monitor.store.fallback_journal import FallbackJournal
from tests.monitor.app.test_daemon_paging_health import until
from tests.support.fakes import write_config
from tests.support.modbus_server import Unit, modbus_server
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class Accounts:
    group: str
    member: str
    outsider: str

    @property
    def gid(self) -> int:
        return group_id(self.group)


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="module")
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        pytest.skip("the file-mode tests create throwaway OS users and a group: they need root")
    for tool in ("useradd", "groupadd", "userdel", "groupdel", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"the file-mode tests need {tool}")
    tag = secrets.token_hex(3)
    made = Accounts(f"cwg{tag}", f"cwm{tag}", f"cwo{tag}")
    _run("groupadd", made.group)
    try:
        _run("useradd", "-M", "-U", "-s", "/usr/sbin/nologin", "-G", made.group, made.member)
        _run("useradd", "-M", "-U", "-s", "/usr/sbin/nologin", made.outsider)
        yield made
    finally:
        for user in (made.member, made.outsider):
            subprocess.run(["userdel", user], capture_output=True)
        for group in (made.member, made.outsider, made.group):  # user groups may be gone
            subprocess.run(["groupdel", group], capture_output=True)


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder everyone may traverse (pytest's own tmp folders are root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="cw-modes-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _config(base: Path, store: Path, group: str, port: int) -> Path:
    """A freezer on Modbus reading -50 C against a -60 C limit, paged to an outbox beside the
    store (real drivers only: the CLI runs in processes of its own)."""
    rule = {"condition": "limit", "channel": "temp", "high": -60, "priority": "critical"}
    temp = {"id": "temp", "quantity": "temperature", "unit": "C"}
    source = {"device": "dev", "register": "holding", "address": 0, "type": "int16"}
    modbus = {"transport": "tcp", "host": "127.0.0.1", "port": port, "unit": 1}
    modbus["request_timeout"] = "200ms"
    data: dict[str, Any] = {
        "site": {"id": "modes", "name": "Modes"},
        "store": {"path": str(store), "group": group},
        "devices": [
            {"id": "dev", "driver": "modbus", "interval": "1s", "timeout": "500ms"}
            | {"settings": modbus}
        ],
        "locations": [
            {
                "id": "room",
                "equipment": [
                    {
                        "id": "fr",
                        "kind": "ult_freezer",
                        "channels": [{**temp, "source": source}],
                    }
                ],
            }
        ],
        "alarms": {"equipment": {"fr": {"template": "other", "rules": {"warm": rule}}}},
        "notifiers": {"log": {"type": "outbox", "path": str(store.parent / "outbox.jsonl")}},
        "people": [{"id": "log", "name": "Log", "channels": ["log"]}],
        "escalation": {
            "policies": {"cold": {"tiers": [{"notify": ["person:log"]}]}},
            "default_policy": "cold",
        },
        "acknowledgement": {"control_socket": {"enabled": False}},
    }
    path = write_config(base, data, name="coldwatch.yaml")
    path.chmod(0o644)
    return path


@contextlib.asynccontextmanager
async def running(config: Path, port: int) -> AsyncIterator[Daemon]:
    """The freezer's Modbus server and the daemon on ``config``; the body may stop the
    daemon earlier."""
    async with modbus_server(port, Unit(holding={0: 0x10000 - 50})), _daemon(config) as daemon:
        yield daemon


@contextlib.asynccontextmanager
async def _daemon(config: Path) -> AsyncIterator[Daemon]:
    daemon = Daemon(load(config))
    await daemon.start()
    stopped = daemon.stop
    done = False

    async def stop_once() -> None:
        nonlocal done
        if not done:
            done = True
            await stopped()

    daemon.stop = stop_once  # type: ignore[method-assign]
    try:
        yield daemon
    finally:
        await stop_once()


def _mode_and_group(path: Path) -> tuple[str, int]:
    st = path.stat()
    return oct(stat.S_IMODE(st.st_mode)), st.st_gid


async def test_files_are_0640_and_folders_0750_with_the_group(
    base: Path, accounts: Accounts
) -> None:
    records = base / "state" / "records"  # two folders the daemon creates
    outbox = records / "outbox.jsonl"
    previous = os.umask(0)  # the modes must not come from the umask
    try:
        port = free_port()
        config = _config(base, records / "cw.db", accounts.group, port)
        async with running(config, port) as daemon:

            async def paged() -> bool:
                return outbox.exists() and outbox.stat().st_size > 0

            await until("the page in the outbox", paged)
            files = ["cw.db", "cw.db-wal", "cw.db-shm", "cw.db.lock", "outbox.jsonl"]
            want = {name: ("0o640", accounts.gid) for name in files}
            assert {name: _mode_and_group(records / name) for name in files} == want
            for folder in (base / "state", records):
                assert _mode_and_group(folder) == ("0o750", accounts.gid)
            assert _mode_and_group(base)[0] == "0o755"  # a folder that was there is left alone
            await daemon.stop()
    finally:
        os.umask(previous)
    # at rest: the side files stay (empty) so that the group can still open the store
    want = {name: ("0o640", accounts.gid) for name in ("cw.db", "cw.db-wal", "cw.db-shm")}
    assert {name: _mode_and_group(records / name) for name in want} == want


def test_the_journals_and_an_older_wider_file(base: Path, accounts: Accounts) -> None:
    """The Twilio poll state and replay journal and the fallback journal, whatever the umask;
    a file an older version left wider is narrowed and given the group, never widened."""
    access = FileAccess(accounts.gid)
    previous = os.umask(0)
    try:
        PollState(datetime(2026, 3, 1, tzinfo=UTC)).save(base / "twilio-poll.json", access)
        guard = ReplayGuard(base / "twilio-replay.log", files=access)
        guard.open()
        assert guard.first_time("SM0001")
        guard.close()
        journal = FallbackJournal(base / "fallback.journal", files=access)
        assert journal.append("notification_log", datetime(2026, 3, 1, tzinfo=UTC), {"a": 1})
    finally:
        os.umask(previous)
    for name in ("twilio-poll.json", "twilio-replay.log", "fallback.journal"):
        assert _mode_and_group(base / name) == ("0o640", accounts.gid), name
    older = base / "older.db"
    older.write_text("")
    older.chmod(0o666)
    access.narrow(older)  # never widened, only narrowed, and given the group
    assert _mode_and_group(older) == ("0o640", accounts.gid)
    older.chmod(0o600)
    access.narrow(older)
    assert _mode_and_group(older) == ("0o600", accounts.gid)


# --- a member of the group reads, an outsider is refused ----------------------------------------


def _as_user(user: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    account = pwd.getpwnam(user)
    path = os.pathsep.join([str(Path(monitor.__file__).parents[1]), *site.getsitepackages()])
    env = ["env", "-i", f"PYTHONPATH={path}", "PYTHONDONTWRITEBYTECODE=1", "HOME=/nonexistent"]
    who = [f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"]
    return subprocess.run(
        ["setpriv", *who, *env, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def _python_for(user: str, cwd: Path) -> str:
    """An interpreter ``user`` may run, with coldwatch importable (the test's own may live in
    a home folder closed to other users)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (
        sys.executable,
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ):
        if Path(candidate).exists():
            probe = _as_user(user, [candidate, "-c", "import monitor.app.cli"], cwd)
            if probe.returncode == 0:
                return candidate
    pytest.skip(f"no Python {version} that another user may run with coldwatch importable")


async def test_a_group_member_verifies_the_store_and_an_outsider_is_refused(
    base: Path, accounts: Accounts
) -> None:
    store = base / "cw.db"  # in a folder everyone may traverse: only the file's mode decides
    port = free_port()
    config = _config(base, store, accounts.group, port)
    python = _python_for(accounts.member, base)

    async def verify(user: str) -> subprocess.CompletedProcess[str]:
        argv = [python, "-m", "monitor.app.cli", "verify", "-c", str(config)]
        return await asyncio.to_thread(_as_user, user, argv, base)

    async with running(config, port) as daemon:

        async def stored() -> bool:
            return bool(daemon.store.readings("fr.temp"))

        await until("readings", stored)
        for when in ("while the daemon runs", "after it stopped"):
            member = await verify(accounts.member)
            assert (member.returncode, member.stderr) == (0, ""), when
            assert member.stdout.startswith("ok: "), when
            outsider = await verify(accounts.outsider)
            assert outsider.returncode == 1, when
            refusal = f"coldwatch: store {store}: cannot read it: permission denied\n"
            assert outsider.stderr == refusal, when
            await daemon.stop()
    # nor can an outsider start a daemon on it: one line, no traceback, nothing written
    before = store.read_bytes()
    argv = [python, "-m", "monitor.app.cli", "run", "-c", str(config)]
    started = await asyncio.to_thread(_as_user, accounts.outsider, argv, base)
    assert started.returncode == 1
    lock = f"{store}.lock"
    assert (
        started.stderr
        == f"coldwatch: not started: cannot take the lock {lock}: Permission denied\n"
    )
    assert store.read_bytes() == before
