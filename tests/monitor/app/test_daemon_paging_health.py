"""The daemon with real peers when paging breaks: the only remote notifier (a webhook whose
server refuses every page) fails, the daemon raises alarms about its own paging, and the horn
(a real Modbus coil) sounds although no escalation tier names it; acknowledging silences it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import tests.support.fakes  # noqa: F401  (registers the in-memory drivers)
from alarms.model import AlarmState
from monitor.app.daemon import Daemon
from monitor.core.model import EventKind
from monitor.store.factory import open_store
from tests.support.fakes import fake_config
from tests.support.modbus_server import ModbusTestServer, Unit, modbus_server, read_coil

COIL = 3


@pytest.fixture
async def horn_server() -> AsyncIterator[ModbusTestServer]:
    async with modbus_server(0, Unit(coils={COIL: False})) as srv:
        yield srv


@pytest.fixture
async def refusing_webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A chat service that refuses every page with 403 (revoked token): not worth a retry;
    it accepts pages again once a test appends ``{"accept": True}`` to the list."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        accept = any(r.get("accept") for r in received)
        received.append(await request.json())
        if accept:
            return web.Response(status=200, text="ok")
        return web.Response(status=403, text="token revoked")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])  # the one the OS picked
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def horn_sounds(server: ModbusTestServer, want: bool = True) -> None:
    async def coil_is() -> bool:
        return await read_coil(server.port, COIL) is want

    await until("the horn to sound" if want else "the horn to stop", coil_is)


async def until(what: str, check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def paging_config(tmp_path: Path, url: str, horn_port: int, tier_wait: str) -> Any:
    """A freezer reading -50 C against a -60 C limit, paged to Alice by chat only."""
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
            # the default 2-minute on-delay, shortened for the test
            "system": {"notifiers_all_failing": {"on_delay": "1s"}},
            "equipment": {
                "fr": {
                    "template": "other",
                    "rules": {
                        "warm": {
                            "condition": "limit",
                            "channel": "temp",
                            "high": -60,
                            "priority": "critical",
                            "contingency": "Move product to backup freezer BF-02.",
                        }
                    },
                }
            },
        },
        notifiers={
            "chat": {"type": "webhook", "url": url, "format": "slack_text"},
            "horn": {"type": "horn", "host": "127.0.0.1", "port": horn_port, "coil": COIL},
        },
        people=[{"id": "alice", "name": "Alice", "channels": ["chat"]}],
        escalation={
            "policies": {
                "cold": {"tiers": [{"notify": ["person:alice"], "wait": tier_wait}], "repeat": 3}
            },
            "default_policy": "cold",
        },
    )


async def test_all_remote_notifiers_failing_sounds_the_horn(
    tmp_path: Path,
    horn_server: ModbusTestServer,
    refusing_webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = refusing_webhook
    loaded = paging_config(tmp_path, url, horn_server.port, "15m")
    daemon = Daemon(loaded, base_dir=tmp_path)
    await daemon.start()
    try:
        engine = daemon.alarms
        assert engine is not None
        await horn_sounds(horn_server)
        unreachable = engine.get("coldwatch/notifiers_all_failing")
        assert unreachable.state is AlarmState.UNACK
        assert engine.get("coldwatch/notifier_failing/chat").state is AlarmState.UNACK
        assert engine.get("coldwatch/notifier_failing/horn").state is AlarmState.NORMAL
        assert engine.get("fr.temp/warm").state is AlarmState.UNACK
        assert len(received) >= 3  # the chat server did get the pages, and refused them

        assert unreachable.code is not None
        engine.acknowledge(
            unreachable.code, "alice", "chat token revoked; paging by phone meanwhile", via="cli"
        )
        await horn_sounds(horn_server, False)
        await asyncio.sleep(0.5)  # the writer commits the events
    finally:
        await daemon.stop()
    store = open_store(loaded.config.store, tmp_path)
    try:
        kinds = [
            e.kind
            for e in store.events(
                kinds=[EventKind.NOTIFIER_FAILING, EventKind.NOTIFIERS_ALL_FAILING]
            )
        ]
        assert kinds == [EventKind.NOTIFIER_FAILING, EventKind.NOTIFIERS_ALL_FAILING]
    finally:
        store.close()


async def test_paging_alarms_clear_after_a_restart_once_paging_works(
    tmp_path: Path,
    horn_server: ModbusTestServer,
    refusing_webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    """The alarms about paging survive a restart in the engine; the new process's watch starts
    from them, so the first page that gets out clears them (and the horn stops)."""
    url, received = refusing_webhook
    loaded = paging_config(tmp_path, url, horn_server.port, "2s")
    daemon = Daemon(loaded, base_dir=tmp_path)
    await daemon.start()
    try:
        await horn_sounds(horn_server)
    finally:
        await daemon.stop()
    received.append({"accept": True})  # the chat token was renewed during the restart
    daemon = Daemon(loaded, base_dir=tmp_path)
    await daemon.start()
    try:
        engine = daemon.alarms
        assert engine is not None
        assert engine.get("coldwatch/notifiers_all_failing").state is AlarmState.UNACK

        async def cleared() -> bool:
            assert engine is not None
            keys = ("coldwatch/notifiers_all_failing", "coldwatch/notifier_failing/chat")
            return all(not engine.get(k).active for k in keys)

        await until("the paging alarms to clear", cleared)
        await horn_sounds(horn_server, False)
        assert engine.get("coldwatch/notifiers_all_failing").state is AlarmState.RTN_UNACK
    finally:
        await daemon.stop()
