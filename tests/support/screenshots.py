"""``make screenshots``: PNGs of the console's pages for the docs, at a phone's width and a wall
screen's, taken in Debian's chromium from a real daemon reading a Modbus freezer (the same set-up
as the browser tests). Not part of ``make test``.

    python -m tests.support.screenshots docs/screenshots
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.identity.roles import Role
from tests.support.browser import (
    ADMIN,
    ADMIN_PASSWORD,
    CHROMIUM,
    coldwatch,
    launch_options,
    running_console,
    sign_in,
)
from tests.support.equipment_data import alarm_period, readings, record_version
from tests.support.identity_web import PASSWORD, add_user
from tests.support.web import ThreadedConsole

#: name -> (viewport, device scale): a phone held upright and a wall screen in the freezer room.
SCREENS: dict[str, tuple[dict[str, int], float]] = {
    "phone": ({"width": 390, "height": 844}, 2.0),
    "wall": ({"width": 1920, "height": 1080}, 1.0),
}
#: name -> path; every page but sign-in is shown to the signed-in admin. The equipment page is
#: taken apart, over a store with history (:func:`take_equipment`).
PAGES = {
    "signin": "signin",
    "dashboard": "",
    "overview": "overview",
    "account": "account",
    "users": "users",
}
#: Pages with the live stream open: never "network idle", ready once they say they are live.
LIVE = frozenset({"dashboard", "kiosk"})
LIVE_TEXT = "Live: values update by themselves."


async def take(folder: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    saved: list[Path] = []
    with running_console() as console:
        made = coldwatch(
            console.folder,
            *("user", "token-add", "wall screen", "-c", str(console.folder / "coldwatch.yaml")),
            *("--role", "viewer", "--reason", "screenshots of the wall screen"),
        )
        token = made.strip().splitlines()[-1]
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
                            saved.append(await shot(page, folder / f"{name}-{screen}.png", name))
                    await context.close()
                    kiosk = await browser.new_context(viewport=viewport, device_scale_factor=scale)
                    page = await kiosk.new_page()
                    await page.goto(f"{console.url}kiosk/enter?token={token}")
                    saved.append(await shot(page, folder / f"kiosk-{screen}.png", "kiosk"))
                    await kiosk.close()
            finally:
                await browser.close()
    return saved


async def take_equipment(folder: Path) -> list[Path]:
    """The equipment page of freezer-07 over its last hour, from a store with a day of history
    (a fresh daemon has only seconds of it): a limit raised 25 minutes ago, a 10-minute hole in
    the readings and an acknowledged alarm period."""
    from playwright.async_api import async_playwright

    now = datetime.now(UTC).replace(microsecond=0)
    saved: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp, ThreadedConsole(Path(tmp)) as console:
        record_version(console.store, now - timedelta(days=2), high=-68.0)
        record_version(console.store, now - timedelta(minutes=25), high=-65.0)
        hole = (now - timedelta(minutes=50), now - timedelta(minutes=40))
        console.store.append(readings(now - timedelta(hours=26), now, holes=(hole,)))
        alarm_period(console.store, now - timedelta(minutes=20), now - timedelta(minutes=12))
        add_user(console.identity.records, "vera", Role.VIEWER)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**launch_options())
            try:
                for screen, (viewport, scale) in SCREENS.items():
                    context = await browser.new_context(
                        viewport=viewport, device_scale_factor=scale
                    )
                    page: Any = await context.new_page()
                    await sign_in(page, console.url, "vera", PASSWORD)
                    await page.goto(console.url + "equipment/freezer-07?range=1h")
                    await page.locator("#chart .alarm-band").first.wait_for(state="attached")
                    saved.append(await shot(page, folder / f"equipment-{screen}.png"))
                    await context.close()
            finally:
                await browser.close()
    return saved


async def shot(page: Any, path: Path, name: str = "") -> Path:
    if name in LIVE:
        await page.get_by_text(LIVE_TEXT).wait_for()
        await page.wait_for_timeout(1500)  # a reading or two, and their ages counted up
    else:
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
    for path in asyncio.run(take(folder)) + asyncio.run(take_equipment(folder)):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
