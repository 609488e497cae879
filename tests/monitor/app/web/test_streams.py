"""Open streams: bounded, each slot given back however its stream ends, and all ended at once
by ``close_all`` (the daemon's stop), after which no new one opens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from monitor.app.web.streams import OpenStreams, TooManyStreams


async def endless(tag: bytes, closed: list[bytes]) -> AsyncIterator[bytes]:
    try:
        while True:
            yield tag
            await asyncio.sleep(3600)
    finally:
        closed.append(tag)


async def finite(n: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield str(i).encode()


async def drain(stream: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for chunk in stream:
        into.append(chunk)


async def test_close_all_ends_every_open_stream_and_its_source() -> None:
    streams = OpenStreams(limit=10)
    closed: list[bytes] = []
    received: list[bytes] = []
    readers = []
    for i in range(10):
        streams.reserve()
        readers.append(
            asyncio.create_task(drain(streams.until_closed(endless(b"%d" % i, closed)), received))
        )
    await asyncio.sleep(0.05)
    assert streams.count == 10 and len(received) == 10
    with pytest.raises(TooManyStreams):
        streams.reserve()
    streams.close_all()
    await asyncio.wait_for(asyncio.gather(*readers), 1.0)  # each ended, none was cancelled
    assert streams.count == 0
    assert sorted(closed) == sorted(b"%d" % i for i in range(10))
    assert await streams.wait_closed(0.1)
    with pytest.raises(TooManyStreams):  # stopping: no new stream
        streams.reserve()


async def test_a_stream_that_ends_or_whose_reader_leaves_gives_its_slot_back() -> None:
    streams = OpenStreams(limit=1)
    streams.reserve()
    received: list[bytes] = []
    await drain(streams.until_closed(finite(3)), received)
    assert received == [b"0", b"1", b"2"] and streams.count == 0
    closed: list[bytes] = []
    streams.reserve()
    reader = asyncio.create_task(drain(streams.until_closed(endless(b"x", closed)), []))
    await asyncio.sleep(0.05)
    reader.cancel()  # the client went away: Starlette cancels the response's task
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert streams.count == 0 and closed == [b"x"]
    streams.reserve()  # the slot is free again


async def test_wait_closed_says_when_streams_are_still_open() -> None:
    streams = OpenStreams()
    streams.reserve()
    stream = streams.until_closed(endless(b"y", []))
    assert await anext(stream) == b"y"
    assert not await streams.wait_closed(0.05)
    streams.close_all()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert await streams.wait_closed(0.05)
