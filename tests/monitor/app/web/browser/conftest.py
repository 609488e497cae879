"""One headless chromium per test session (per xdist worker) on a session-wide event loop, a
fresh browser context (its own cookies: one person) per test, and one running console per
module. Playwright's async API: its sync API marks the thread's event loop as running between
calls, which would stop every other asyncio test of the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.browser import Console, launch_options, running_console

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    options = launch_options()  # skips (or fails under CI=true) without chromium
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(**options)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="module")
def console(browser: Any) -> Iterator[Console]:
    """After the browser: without chromium the test skips before a daemon starts."""
    with running_console() as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    try:
        yield await context.new_page()
    finally:
        await context.close()
