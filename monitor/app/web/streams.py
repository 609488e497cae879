"""Open event streams, counted and bounded, and all ended at once when the daemon stops.

A streaming response never ends by itself, and uvicorn's graceful shutdown waits for every
response to finish: without this, one open browser tab would hold the daemon's stop for the
whole grace period and then be cut. :meth:`OpenStreams.close_all` ends every stream's body
cleanly (the client sees the end of the response, an event stream reconnects later), so the
server's shutdown finds nothing left to wait for. :meth:`OpenStreams.stopping` tells the rest
of the console that the stop has begun (a request body still arriving is refused then).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

#: At most this many streams are open at once; the next caller is told to come back later.
MAX_STREAMS = 64


class TooManyStreams(Exception):
    """Every stream slot is taken."""


class OpenStreams:
    def __init__(self, limit: int = MAX_STREAMS) -> None:
        self.limit = limit
        self.count = 0
        self._closing = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def reserve(self) -> None:
        """Take a slot before the response starts; :class:`TooManyStreams` when none is free,
        or when the server is stopping. The stream gives it back when it ends."""
        if self._closing.is_set() or self.count >= self.limit:
            raise TooManyStreams
        self.count += 1
        self._idle.clear()

    async def until_closed(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``source``'s chunks until it ends, the client goes away or :meth:`close_all`;
        the slot taken by :meth:`reserve` is given back in every case."""
        closing = asyncio.ensure_future(self._closing.wait())
        chunk: asyncio.Future[bytes] | None = None
        try:
            while True:
                chunk = asyncio.ensure_future(anext(source))
                await asyncio.wait({chunk, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not chunk.done():
                    return
                try:
                    data = chunk.result()
                except StopAsyncIteration:
                    return
                chunk = None
                yield data
        finally:
            self.count -= 1  # first: what follows awaits, and may itself be cancelled
            if self.count == 0:
                self._idle.set()
            closing.cancel()
            if chunk is not None and not chunk.done():
                chunk.cancel()
                await asyncio.wait({chunk})
            if chunk is not None and not chunk.cancelled():
                chunk.exception()  # retrieved: a source that failed as it was cut is no news
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def stopping(self) -> None:
        """Returns when :meth:`close_all` is called: the server is stopping."""
        await self._closing.wait()

    def close_all(self) -> None:
        """End every open stream, and refuse new ones from now on."""
        self._closing.set()

    async def wait_closed(self, timeout: float) -> bool:
        """Whether every stream ended within ``timeout`` seconds of real time."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
