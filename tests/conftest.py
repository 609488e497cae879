"""Shared fixtures. The autouse leak check fails any test that leaves tasks or threads behind."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from monitor.core.clock import FakeClock
from tests.support.ports import ClosedPorts, free_port

# Threads that belong to the interpreter or to libraries' long-lived pools, not to a test
# (AnyIO's: Starlette reads static files in them; an idle one ends after 10 s).
_ALLOWED_THREAD_PREFIXES = (
    "asyncio_",
    "ThreadPoolExecutor",
    "pytest_timeout",
    "AnyIO worker thread",
)


def _foreign_threads(before: set[int]) -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.ident not in before
        and t.is_alive()
        and not t.name.startswith(_ALLOWED_THREAD_PREFIXES)
    ]


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate() if t.ident is not None}
    yield
    deadline = time.monotonic() + 2.0
    leaked = _foreign_threads(before)
    while leaked and time.monotonic() < deadline:
        time.sleep(0.02)
        leaked = _foreign_threads(before)
    assert not leaked, f"test leaked threads: {[t.name for t in leaked]}"


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    for _ in range(10):
        await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    for task in leaked:
        task.cancel()
    if leaked:
        await asyncio.gather(*leaked, return_exceptions=True)
        gc.collect()
    assert not leaked, (
        f"test leaked asyncio tasks: {[t.get_name() + ' ' + repr(t.get_coro()) for t in leaked]}"
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def closed_port() -> Iterator[ClosedPorts]:
    """``closed_port()``: a loopback port where nobody listens for the whole test."""
    ports = ClosedPorts()
    yield ports
    ports.close()
