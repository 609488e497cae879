"""SIGTERM (as systemd stops the service) while ten people have the console open in a real
browser, each signed in and holding the heartbeat event stream: the daemon still exits within
seconds, with status 0, every reading of the Modbus freezer committed, and no traceback; and
each browser sees its stream end."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from tests.support.browser import TECH, TECH_PASSWORD, Console, sign_in

pytestmark = [pytest.mark.timeout(180), pytest.mark.asyncio(loop_scope="session")]

SESSIONS = 10

#: Opens the heartbeat stream as the console's pages will (EventSource, the session's cookie),
#: resolves with its first heartbeat and notes in the page when the stream ends.
OPEN_STREAM = """() => new Promise((resolve, reject) => {
  const stream = new EventSource('/api/events/heartbeat?interval=1');
  window.cwStreamEnded = false;
  stream.addEventListener(
    'heartbeat', (event) => resolve(JSON.parse(event.data).beat), {once: true});
  stream.onerror = () => {
    window.cwStreamEnded = true;
    stream.close();
    reject(new Error('stream failed'));
  };
})"""


async def open_session(browser: Any, console: Console) -> Any:
    context = await browser.new_context()
    context.set_default_timeout(20_000)
    page = await context.new_page()
    await sign_in(page, console.url, TECH, TECH_PASSWORD)
    assert page.url == console.url, page.url
    assert await page.evaluate(OPEN_STREAM) == 0
    return context


async def test_sigterm_with_ten_open_browser_sessions_stops_within_seconds(
    browser: Any, console: Console
) -> None:
    contexts = await asyncio.gather(*(open_session(browser, console) for _ in range(SESSIONS)))
    try:
        pages = [context.pages[0] for context in contexts]
        assert not any([await p.evaluate("window.cwStreamEnded") for p in pages])
        freezer = "SELECT count(*) FROM readings WHERE value = -80.0 AND quality = 'good'"
        for _ in range(200):
            if await asyncio.to_thread(console.readings, freezer) >= 3:
                break
            await asyncio.sleep(0.1)
        seconds = await asyncio.to_thread(console.sigterm)
        for page in pages:  # every browser is told: its stream has ended
            await page.wait_for_function("window.cwStreamEnded === true", timeout=10_000)
    finally:
        for context in contexts:
            await context.close()
    assert console.ended is not None
    out, err = console.ended
    assert console.proc.returncode == 0, err
    assert seconds < 5.0, f"stopped in {seconds:.1f} s"
    assert "Traceback" not in out + err, err
    committed = re.findall(r"stopped; (\d+) readings committed", err)
    assert len(committed) == 1, err
    stored = console.readings()
    assert stored == int(committed[0]) > 0
    assert console.readings(freezer) >= 3  # the freezer's -80.0 C, read and kept
    print(
        f"\n{SESSIONS} browser sessions streaming: SIGTERM to exit {seconds:.2f} s; {stored} stored"
    )
