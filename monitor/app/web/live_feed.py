"""The dashboard's live feed: one task builds the tiles once a second and hands the changed
ones to every open stream, each through a small bounded queue of its own.

One combined message per tick at most (only the tiles whose state, value or reading changed),
so a client gets at most one message a second however many readings arrive. A client whose
queue is full (it stopped reading: its TCP window closed and its last sends are stuck) is
dropped and counted: the feed never waits for anyone, so the daemon's polling never does.

Event ids are ``<run>-<n>``: ``run`` is random per daemon start, ``n`` counts messages. A
client that reconnects with the current id gets nothing again; any other (an older id,
another run's, none) gets every tile as it is now, so a reconnect never misses a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from datetime import datetime

from alarms.model import AlarmView
from monitor.app.unit_state import LocationTiles, UnitTile, build_tiles
from monitor.app.web.context import WebContext
from monitor.config.sections import Location
from monitor.runtime.live import ChannelNow

log = logging.getLogger(__name__)

#: Messages waiting per client before it counts as not reading and is dropped.
CLIENT_QUEUE = 8
TICK = 1.0
#: Every this many ticks an `alive` event, changed tiles or not (the page watches for it).
HEARTBEAT_TICKS = 10


def tile_key(tile: UnitTile) -> Hashable:
    """What a tile shows, but its age (which the page counts up by itself)."""
    return (
        tile.state,
        tile.alarm,
        tile.active_alarms,
        tile.shelved,
        tile.out_of_service,
        tile.devices_down,
        tuple((c.value, c.quality, c.ts, c.trend) for c in tile.channels),
    )


class LiveClient:
    def __init__(self, size: int) -> None:
        self.pending: deque[bytes] = deque()
        self.size = size
        self.dropped = False
        self.wake = asyncio.Event()
        self.gone = asyncio.Event()
        """Set when dropped: the response stops waiting for a send that cannot finish."""

    def offer(self, message: bytes) -> bool:
        """Queue ``message``; False (and dropped from now on) when the queue is full."""
        if self.dropped:
            return False
        if len(self.pending) >= self.size:
            self.dropped = True
            self.pending.clear()
            self.wake.set()
            self.gone.set()
            return False
        self.pending.append(message)
        self.wake.set()
        return True

    async def messages(self) -> AsyncIterator[bytes]:
        while not self.dropped:
            await self.wake.wait()
            self.wake.clear()
            while self.pending and not self.dropped:
                yield self.pending.popleft()


class LiveFeed:
    def __init__(
        self,
        context: WebContext,
        render: Callable[[UnitTile], str],
        *,
        client_queue: int = CLIENT_QUEUE,
        tick: float = TICK,
    ) -> None:
        self.context = context
        self.render = render
        self.client_queue = client_queue
        self.tick = tick
        self.run_id = secrets.token_hex(4)
        self.seq = 0
        self.clients: set[LiveClient] = set()
        self.dropped = 0
        """Clients dropped because they stopped reading."""
        self.messages = 0
        self._keys: dict[str, Hashable] = {}
        self._html: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def last_id(self) -> str:
        return f"{self.run_id}-{self.seq}"

    def tiles(self, at: datetime, only: Location | None = None) -> list[LocationTiles]:
        """Every unit's tile now (of location ``only``, if given), from the live values, the
        alarm engine and the devices."""
        return self._tiles(at, self._sources(), only)

    def _sources(self) -> tuple[Mapping[str, ChannelNow], list[AlarmView], list[str]]:
        context, live = self.context, self.context.live
        values = live.snapshot() if live is not None else {}
        alarms = context.alarms.active() if context.alarms is not None else []
        down = [d for d, up in live.device_up.items() if not up] if live is not None else []
        return values, alarms, down

    def _tiles(
        self,
        at: datetime,
        sources: tuple[Mapping[str, ChannelNow], list[AlarmView], list[str]],
        only: Location | None = None,
    ) -> list[LocationTiles]:
        config = self.context.site_config
        if config is None:
            return []
        values, alarms, down = sources
        return build_tiles(config, values, alarms, down, at, None if only is None else [only])

    def _changed(self, locations: list[LocationTiles], into: dict[str, str]) -> None:
        for location in locations:
            for unit in location.units:
                key = tile_key(unit)
                if self._keys.get(unit.id) != key:
                    self._keys[unit.id] = key
                    self._html[unit.id] = into[unit.id] = self.render(unit)

    def update(self) -> dict[str, str]:
        """Rebuild every tile; the HTML of those that changed since the last call."""
        changed: dict[str, str] = {}
        self._changed(self.tiles(self.context.clock.now()), changed)
        return changed

    async def update_stepwise(self) -> dict[str, str]:
        """:meth:`update` a location at a time, letting the event loop run in between: a
        poll due meanwhile waits for one location's tiles at most, not the whole site's."""
        config = self.context.site_config
        changed: dict[str, str] = {}
        if config is None:
            return changed
        at, sources = self.context.clock.now(), self._sources()
        for location in config.locations:
            self._changed(self._tiles(at, sources, location), changed)
            await asyncio.sleep(0)
        return changed

    def encode(self, tiles: dict[str, str]) -> bytes:
        data = json.dumps({"at": self.context.clock.now().isoformat(), "tiles": tiles})
        return f"id: {self.last_id}\nevent: tiles\ndata: {data}\n\n".encode()

    def publish(self, changed: dict[str, str] | None = None) -> None:
        """One tick: the changed tiles (``changed``, else worked out now) to every client,
        dropping those whose queue is full."""
        if not self.clients:
            return  # nobody to tell: a new client's first message is made then
        if changed is None:
            changed = self.update()
        if not changed:
            return
        self.seq += 1
        self.messages += 1
        self._broadcast(self.encode(changed))

    def heartbeat(self) -> None:
        """An ``alive`` event to every client: a page that hears nothing for a while knows its
        stream is dead even when no error reached it (a lost host or switch), and says so."""
        data = json.dumps({"at": self.context.clock.now().isoformat()})
        self._broadcast(f"event: alive\ndata: {data}\n\n".encode())

    def _broadcast(self, message: bytes) -> None:
        for client in list(self.clients):
            if not client.offer(message):
                self.clients.discard(client)
                self.dropped += 1
                log.warning(
                    "a live dashboard client stopped reading: dropped (%d so far)", self.dropped
                )

    def subscribe(self, last_event_id: str | None) -> LiveClient:
        """A new client; it gets every tile now unless it already saw the newest message."""
        self._start()
        client = LiveClient(self.client_queue)
        if self.clients:
            self.publish()  # those already here get what changed first
        elif self.update():
            # a change nobody was told of (a unit gone stale meanwhile): a new message id, so
            # a client reconnecting with the old one gets every tile, never the old picture
            self.seq += 1
        if last_event_id != self.last_id or self.seq == 0:
            client.offer(b"retry: 3000\n" + self.encode(dict(self._html)))
        else:
            client.offer(b"retry: 3000\n\n")  # starts the body: the browser sees it open
        self.clients.add(client)
        return client

    def leave(self, client: LiveClient) -> None:
        self.clients.discard(client)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="live-feed")

    async def run(self) -> None:
        clock, streams = self.context.clock, self.context.streams
        start = clock.monotonic()
        n = 0
        stopping = asyncio.ensure_future(streams.stopping())
        try:
            while not streams.closing:
                n += 1
                sleep = asyncio.ensure_future(clock.sleep_until(start + n * self.tick))
                await asyncio.wait({sleep, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not sleep.done():
                    sleep.cancel()
                    return
                try:
                    if self.clients:
                        self.publish(await self.update_stepwise())
                        if n % HEARTBEAT_TICKS == 0:
                            self.heartbeat()
                except Exception:  # a bug in one tile must not end every dashboard's feed
                    log.exception("the live dashboard feed failed this tick")
        finally:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
