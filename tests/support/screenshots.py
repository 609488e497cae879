"""``make screenshots``: PNGs of the console's pages for the docs, at a phone's width and a wall
screen's, taken in Debian's chromium from a real daemon reading a Modbus freezer (the same set-up
as the browser tests). Not part of ``make test``.

    python -m tests.support.screenshots docs/screenshots
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.support.browser import (
    ADMIN,
    ADMIN_PASSWORD,
    CABINET,
    CABINET_TENTHS,
    CHROMIUM,
    Console,
    launch_options,
    running_console,
    sign_in,
)
from tests.support.modbus_server import encode

#: name -> (viewport, device scale): a phone held upright and a wall screen in the freezer room.
SCREENS: dict[str, tuple[dict[str, int], float]] = {
    "phone": ({"width": 390, "height": 844}, 2.0),
    "wall": ({"width": 1920, "height": 1080}, 1.0),
}
#: name -> path; every page but sign-in is shown to the signed-in admin.
PAGES = {
    "signin": "signin",
    "overview": "",
    "account": "account",
    "users": "users",
    "equipment": "equipment/freezer-07?range=1h",
}


async def excursion(console: Console) -> None:
    """The freezer warm (-62 C) long enough for its warm alarm, then -80 C again: the
    equipment page then has an alarm period to shade."""
    await asyncio.to_thread(console.modbus.write_holding, CABINET, encode(-620, "int32"))
    await asyncio.sleep(8)
    await asyncio.to_thread(console.modbus.write_holding, CABINET, encode(CABINET_TENTHS, "int32"))
    await asyncio.sleep(4)


async def take(folder: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    saved: list[Path] = []
    with running_console() as console:
        await excursion(console)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**launch_options())
            try:
                for screen, (viewport, scale) in SCREENS.items():
                    context = await browser.new_context(
                        viewport=viewport, device_scale_factor=scale
                    )
                    page: Any = await context.new_page()
                    await page.goto(console.url + PAGES["signin"])
                    saved.append(await shot(page, folder / f"signin-{screen}.png"))
                    await sign_in(page, console.url, ADMIN, ADMIN_PASSWORD)
                    for name, path in PAGES.items():
                        if name != "signin":
                            await page.goto(console.url + path)
                            saved.append(await shot(page, folder / f"{name}-{screen}.png"))
                    await context.close()
            finally:
                await browser.close()
    return saved


async def shot(page: Any, path: Path) -> Path:
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(path), full_page=True)
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.screenshots FOLDER", file=sys.stderr)
        return 2
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: sudo apt-get install chromium", file=sys.stderr)
        return 1
    folder = Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(take(folder)):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
