"""A dashboard client that stops reading, beside a real Modbus device polled ten times a
second by the real coordinator on the same event loop, as in the daemon: once its TCP window
and its queue are full the feed drops it (counted, its connection closed), another client goes
on receiving, and polling stays on its schedule (no poll missed or late by an interval)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.app.config import load
from monitor.app.web.app import create_app
from monitor.app.web.config import WebConfig
from monitor.app.web.context import WebContext
from monitor.app.web.live_feed import LiveFeed
from monitor.app.web.server import WebServer, listen
from monitor.core.clock import SystemClock
from monitor.core.metrics import Metrics
from monitor.identity.roles import Role
from monitor.runtime.coordinator import Coordinator
from monitor.runtime.live import LiveValues
from monitor.runtime.pipeline import Pipeline
from monitor.store.sqlite import SQLiteStore
from monitor.store.writer import StoreWriter
from tests.support.identity_web import api_token, console_identity
from tests.support.modbus_server import Unit, modbus_server
from tests.support.paths import REPO
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(90)

INTERVAL = 0.25
UNITS, CHANNELS = 100, 2


class LatenessClock(SystemClock):
    """The system clock, noting how late each poll's sleep woke (the coordinator's only)."""

    def __init__(self) -> None:
        self.late: list[float] = []

    async def sleep_until(self, deadline: float) -> None:  # type: ignore[override]
        await super().sleep_until(deadline)
        self.late.append(self.monotonic() - deadline)


def site(tmp_path: Path, port: int) -> Path:
    equipment = [
        {
            "id": f"fr-{u}",
            "kind": "ult_freezer",
            "channels": [
                {
                    "id": f"t{c}",
                    "quantity": "temperature",
                    "unit": "C",
                    "decimals": 1,
                    "source": {
                        "device": "plc",
                        "register": "holding",
                        "address": u * CHANNELS + c,
                        "type": "int16",
                        "scale": 0.1,
                    },
                }
                for c in range(CHANNELS)
            ],
        }
        for u in range(UNITS)
    ]
    data = {
        "site": {"id": "t", "name": "T"},
        "store": {"path": str(tmp_path / "cw.db")},
        "devices": [
            {
                "id": "plc",
                "driver": "modbus",
                "interval": f"{int(INTERVAL * 1000)}ms",
                "timeout": "200ms",
                "settings": {
                    "transport": "tcp",
                    "host": "127.0.0.1",
                    "port": port,
                    "request_timeout": "100ms",
                },
            }
        ],
        "locations": [{"id": "room", "equipment": equipment}],
    }
    path = tmp_path / "coldwatch.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextlib.asynccontextmanager
async def monitored(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Modbus device, coordinator, live values and console, all on this event loop."""
    image = {a: (-800 + a) & 0xFFFF for a in range(UNITS * CHANNELS)}  # int16 as registers
    async with modbus_server(0, Unit(holding=image)) as device:
        loaded = load(site(tmp_path, device.port))
        metrics = Metrics()
        pipeline = Pipeline(metrics)
        live = LiveValues(loaded.config)
        pipeline.inline.append(live)
        poll_clock = LatenessClock()
        coordinator = Coordinator(loaded, pipeline, poll_clock, metrics)
        settings = WebConfig(port=free_port())
        store = SQLiteStore(tmp_path / "web.db")
        store.open()
        clock = SystemClock()
        identity = console_identity(tmp_path / "web.db", clock, settings)
        context = WebContext(
            settings,
            "t",
            "T",
            clock,
            StoreWriter(store, clock, Metrics()),
            identity=identity.service,
            site_config=loaded.config,
            live=live,
        )
        app = create_app(context)
        # ticks of 20 ms fill the slow client's TCP window in seconds, not minutes
        feed = LiveFeed(context, app.state.live_feed.render, tick=0.02, client_queue=4)
        app.state.live_feed = feed
        server = WebServer(app, listen(settings, REPO), context.streams)
        await coordinator.start()
        await server.start()
        try:
            yield {
                "url": settings.local_url(),
                "port": settings.port,
                "feed": feed,
                "metrics": metrics,
                "clock": poll_clock,
                "token": api_token(identity.records, Role.VIEWER),
                "streams": context.streams,
            }
        finally:
            await server.stop()
            await coordinator.stop()
            identity.close()
            store.close()


def stuck_client(port: int, token: str) -> socket.socket:
    """Asks for the stream with a tiny receive window, then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /api/events/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    return sock


async def closed_by_server(sock: socket.socket, within: float = 10.0) -> bool:
    """Reads what is left; True once the server has closed the connection."""
    sock.setblocking(False)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if sock.recv(1 << 20) == b"":
                return True
        except BlockingIOError:
            await asyncio.sleep(0.05)
        except ConnectionResetError:
            return True
    return False


async def test_a_client_that_stops_reading_is_dropped_and_polling_keeps_its_schedule(
    tmp_path: Path,
) -> None:
    async with monitored(tmp_path) as run:
        feed: LiveFeed = run["feed"]
        received = 0

        async def reader() -> None:
            nonlocal received
            headers = {"Authorization": f"Bearer {run['token']}"}
            async with (
                httpx.AsyncClient(base_url=run["url"], timeout=30) as client,
                client.stream("GET", "/api/events/live", headers=headers) as stream,
            ):
                async for line in stream.aiter_lines():
                    if line.startswith("event: tiles"):
                        received += 1

        reading = asyncio.create_task(reader())
        await asyncio.sleep(1.0)
        assert received > 0 and run["streams"].count == 1
        # from here on (the start, its first connection and polls, is behind us)
        missed_before = run["metrics"].get("polls_missed")
        polls_before = len(run["clock"].late)
        sock = await asyncio.to_thread(stuck_client, run["port"], run["token"])
        try:
            deadline = time.monotonic() + 45
            while feed.dropped == 0:
                assert time.monotonic() < deadline, "the stuck client was never dropped"
                await asyncio.sleep(0.1)
            before = received
            await asyncio.sleep(1.0)
            assert received > before  # the other client goes on
            assert await closed_by_server(sock)
            assert feed.dropped == 1 and len(feed.clients) == 1
            assert run["streams"].count == 1  # its slot given back
        finally:
            sock.close()
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        # polling kept its schedule while the client filled up and was dropped: no poll
        # skipped, none an interval late
        assert run["metrics"].get("polls_missed") == missed_before
        during: list[float] = run["clock"].late[polls_before:]
        assert len(during) > 20 and max(during) < INTERVAL, max(during)
