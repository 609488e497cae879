"""A packet queued just before the connection drops must not register a dead socket for writing.

Found by the fault suite (tests/faults, broker restart under a flood): an acknowledgement
queued on the event loop made aiomqtt *defer* ``loop.add_writer(fd, ...)``; the broker went
away before the deferred call ran, and asyncio logged "Exception in callback ...
add_writer(19, ...)" with an ``OSError: Bad file descriptor`` traceback. Had the descriptor
number been reused meanwhile (the reconnect's socket, a Modbus connection), the dead client's
writes would have been hooked to that socket instead. Both cases against a real Mosquitto,
the drop made the way paho makes it on a read error (``_sock_close``), between two turns of
the event loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers.mqtt.client import Connection
from drivers.mqtt.config import MqttSettings
from tests.support.mosquitto import Mosquitto, mosquitto

__all__ = ["mosquitto"]  # the fixture, imported for pytest

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the event loop reports as unhandled (e.g. an exception in a callback)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_exception_handler(previous)


async def connected(broker: Mosquitto) -> Connection:
    settings = MqttSettings(host=broker.host, port=broker.port, client_id="write-registration")
    conn = Connection(settings, password=None, tls_context=None, timeout=5)
    await conn.__aenter__()
    return conn


async def turns(n: int = 10) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_write_queued_as_the_connection_drops_leaves_no_traceback(
    mosquitto: Mosquitto, loop_errors: list[dict[str, Any]]
) -> None:
    conn = await connected(mosquitto)
    paho = conn._client
    paho.publish("faults/x", b"1", qos=1)  # queues a packet: the socket wants writing
    paho._sock_close()  # the connection drops before the loop turns again
    await turns()
    await conn.__aexit__(None, None, None)
    assert [context.get("message") for context in loop_errors] == []


async def test_a_write_queued_as_the_connection_drops_never_hooks_a_reused_descriptor(
    mosquitto: Mosquitto, loop_errors: list[dict[str, Any]]
) -> None:
    conn = await connected(mosquitto)
    paho = conn._client
    sock = paho.socket()
    assert sock is not None
    fd = sock.fileno()
    writes = 0
    write = paho.loop_write

    def counted_write(*args: Any) -> Any:
        nonlocal writes
        writes += 1
        return write(*args)

    paho.loop_write = counted_write  # type: ignore[method-assign]
    other, peer = socket.socketpair()
    loop = asyncio.get_running_loop()
    try:
        paho.publish("faults/x", b"1", qos=1)
        paho._sock_close()
        os.dup2(other.fileno(), fd)  # the number now names another, writable socket
        await turns()
        assert writes == 0, "the dead client's writes ran on a socket that is not its own"
    finally:
        loop.remove_writer(fd)
        os.close(fd)
        other.close()
        peer.close()
        await conn.__aexit__(None, None, None)
    assert [context.get("message") for context in loop_errors] == []
