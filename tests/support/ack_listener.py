"""A real daemon (in this process) with every acknowledgement listener on loopback: the Twilio
webhook, the web console's alarm API with an API token that acts for Alice, and the control
socket mapped to this test's OS user; one alarm raised by a fake freezer. Builders for the
flood and fuzz tests; no tests."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from alarms.ack.refusals import EVENT_KIND
from monitor.app.daemon import Daemon
from monitor.core.model import Event
from monitor.identity.records import IdentityRecords
from monitor.identity.roles import Role
from monitor.store.factory import open_store
from tests.support.ack import ACCOUNT, ALICE_PHONE, BASE, TOKEN
from tests.support.fakes import fake_config
from tests.support.identity import make_store
from tests.support.identity_web import add_user, api_token
from tests.support.ports import free_port

ME = pwd.getpwuid(os.getuid()).pw_name
KEY = "fr.temp/warm"


@dataclass
class Site:
    daemon: Daemon
    tmp_path: Path
    socket_path: Path
    api_token: str
    """Alice's API token (acts for her: a technician user linked to her person)."""
    stopped: bool = False

    async def stop(self) -> None:
        """Stop the daemon (its refusals still open are recorded, the writer commits)."""
        if not self.stopped:
            self.stopped = True
            await self.daemon.stop()

    @property
    def twilio_port(self) -> int:
        assert self.daemon.ack is not None and self.daemon.ack.webhook is not None
        return self.daemon.ack.webhook.port

    @property
    def api_port(self) -> int:
        """The web console's port (the alarm API is there)."""
        return self.daemon.loaded.config.web.port

    @property
    def code(self) -> str:
        assert self.daemon.alarms is not None
        code = self.daemon.alarms.get(KEY).code
        assert code is not None
        return code

    def refusal_rows(self) -> list[Event]:
        """The ``ack_refused`` events in the store (read after the daemon stopped)."""
        store = open_store(self.daemon.loaded.config.store, self.tmp_path)
        try:
            return store.events(kinds=[EVENT_KIND])
        finally:
            store.close()


def site_config(tmp_path: Path, socket_path: Path) -> Any:
    """A freezer reading -50 C against a -60 C limit; Alice may acknowledge on every path."""
    return fake_config(
        tmp_path,
        [{"id": "dev", "driver": "fake", "interval": "1s", "timeout": "500ms"}],
        [
            {
                "id": "temp",
                "quantity": "temperature",
                "unit": "C",
                "source": {"device": "dev", "value": -50.0},
            }
        ],
        alarms={
            "equipment": {
                "fr": {
                    "template": "other",
                    "rules": {
                        "warm": {
                            "condition": "limit",
                            "channel": "temp",
                            "high": -60,
                            "priority": "critical",
                        }
                    },
                }
            }
        },
        notifiers={"sms": {"type": "outbox", "stderr": False}},
        people=[
            {
                "id": "alice",
                "name": "Alice Meyer",
                "phone": ALICE_PHONE,
                "pin": "4711",
                "channels": ["sms"],
                "os_users": [ME],
            }
        ],
        acknowledgement={
            "twilio": {
                "account_sid": ACCOUNT,
                "auth_token": TOKEN,
                "public_base_url": BASE,
                "port": free_port(),
            },
            "control_socket": {"path": str(socket_path)},
        },
        web={"enabled": True, "port": free_port()},
    )


def alice_api_token(store_file: Path) -> str:
    """A technician user linked to Alice, and an API token that acts for her, in a store no
    daemon holds yet."""
    make_store(store_file)
    records = IdentityRecords(store_file)
    try:
        add_user(records, "alice-u", Role.TECHNICIAN, person="alice")
        add_user(records, "tests-admin", Role.ADMIN)
        return api_token(records, Role.TECHNICIAN, days=30, owner="alice-u")
    finally:
        records.close()


async def until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture(name="site")
async def site_fixture(tmp_path: Path) -> AsyncIterator[Site]:
    """The daemon, started, with the freezer's alarm raised; stopped at the end (the test may
    stop it first to read the store). Import ``site_fixture`` to use the ``site`` fixture."""
    short = Path(tempfile.mkdtemp(prefix="cw-"))
    token = alice_api_token(tmp_path / "cw.db")
    daemon = Daemon(site_config(tmp_path, short / "control.sock"), base_dir=tmp_path)
    await daemon.start()
    running = Site(daemon, tmp_path, short / "control.sock", token)
    try:
        engine = daemon.alarms
        assert engine is not None
        await until("the freezer's alarm", lambda: engine.get(KEY).code is not None)
        yield running
    finally:
        await running.stop()
        shutil.rmtree(short, ignore_errors=True)
