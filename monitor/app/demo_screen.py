"""Drawing the demo's board: redrawn in place on a terminal, a plain line now and then elsewhere.

On a terminal the table is a ``rich.live.Live`` display, redrawn every second; what is printed
or logged meanwhile (pages, warnings) goes through it and appears above the table. Without a
terminal (CI, a pipe, a file) nothing can be redrawn: one plain summary line every
``plain_every`` seconds instead (the first after half that), so a log shows progress without a
table per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live

from monitor.app.demo_board import DemoBoard

#: How often the table is redrawn on a terminal.
REFRESH_S = 1.0
#: How often a plain line is printed when stdout is not a terminal.
PLAIN_EVERY_S = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def _logs_through(proxy: Any) -> Iterator[None]:
    """Point the root logger's handlers that write to the stream ``proxy`` stands for (the
    live display's proxy of stderr) at the proxy, so that log lines print above the table
    instead of through it; restored after."""
    proxied = getattr(proxy, "rich_proxied_file", None)
    moved: list[tuple[logging.StreamHandler[Any], Any]] = []
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is proxied:
            moved.append((handler, handler.setStream(proxy)))
    try:
        yield
    finally:
        for handler, previous in moved:
            handler.setStream(previous)


async def show_board(
    board: DemoBoard,
    console: Console,
    *,
    refresh: float = REFRESH_S,
    plain_every: float = PLAIN_EVERY_S,
    now: Callable[[], datetime] = _utc_now,
) -> None:
    """Draw ``board`` until cancelled."""
    if not console.is_terminal:
        await asyncio.sleep(plain_every / 2)  # the first once every device had time to answer
        while True:
            console.print(board.summary(now()), markup=False, highlight=False, soft_wrap=True)
            console.file.flush()
            await asyncio.sleep(plain_every)
    with (
        Live(
            board.table(now()),
            console=console,
            auto_refresh=False,  # redrawn from this loop: no thread of its own
            transient=True,  # the final table is printed once, after the stop
            redirect_stdout=True,
            redirect_stderr=True,
        ) as live,
        _logs_through(sys.stderr),
    ):
        while True:
            live.refresh()
            await asyncio.sleep(refresh)
            live.update(board.table(now()))
