"""The dashboard in a real browser against ``coldwatch demo`` (its simulated site, read by the
real drivers): sign in, watch the simulated ULT freezer's value change without a reload, inject
``compressor_failure`` with ``coldwatch sim fault`` and see its tile turn to ALARM; the wall
screen's kiosk through a viewer token; axe-core on the dashboard, the kiosk and the overview."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import axe_violations, sign_in

pytestmark = [pytest.mark.timeout(150), pytest.mark.asyncio(loop_scope="session")]

DEMO = ["demo", "--for", "300", "--speed", "600"]
URL = re.compile(r"web console: (http://127\.0\.0\.1:\d+/)")
PASSWORD = re.compile(r"sign in as demo-admin with (\S+) ")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@dataclass
class Demo:
    url: str
    password: str
    folder: Path


def cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "monitor.app.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def demo(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """After the browser: without chromium the test skips before the demo starts."""
    folder = tmp_path_factory.mktemp("dash-demo")
    log_file = folder / "demo.log"
    with log_file.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.app.cli", *DEMO, "--data-dir", str(folder / "d")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ENV,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            text = log_file.read_text()
            url, password = URL.search(text), PASSWORD.search(text)
            if url and password and "device ult-01 online" in text:
                break
            assert proc.poll() is None and time.monotonic() < deadline, text[-3000:]
            time.sleep(0.2)
        yield Demo(url[1], password[1], folder / "d")
    finally:
        proc.send_signal(2)  # Ctrl-C: the demo stops cleanly
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def no_serious_violations(page: Any) -> None:
    violations = await axe_violations(page)
    assert violations == [], f"{page.url}: {violations}"


async def values_of(tile: Any) -> list[str]:
    return [str(v) for v in await tile.locator(".value").all_inner_texts()]


async def stamp_of(tile: Any) -> str | None:
    """When the tile's first reading was taken (its ``data-ts``)."""
    stamp = await tile.locator(".age").first.get_attribute("data-ts")
    return str(stamp) if stamp is not None else None


async def test_the_freezers_value_changes_live_and_its_tile_turns_to_alarm(
    page: Any, demo: Demo
) -> None:
    await sign_in(page, demo.url, "demo-admin", demo.password)
    assert page.url == demo.url  # the landing page is the dashboard
    await page.get_by_role("heading", name="Dashboard").wait_for()
    await page.get_by_text("Live: values update by themselves.").wait_for()
    tile = page.locator("#tile-ult-01")
    await tile.locator(".age").first.wait_for()
    await page.evaluate("window.stillThisPage = true")
    first, first_ts = await values_of(tile), await stamp_of(tile)
    deadline = time.monotonic() + 30
    while await stamp_of(tile) == first_ts:  # a new reading, shown without a reload
        assert time.monotonic() < deadline, f"no reading after {first_ts}"
        await asyncio.sleep(0.5)
    await no_serious_violations(page)

    await asyncio.to_thread(
        cli,
        *("sim", "fault", "--config", str(demo.folder / "sim.yaml")),
        *("--device", "ult-01", "--fault", "compressor_failure"),
    )
    alarmed = page.locator('#tile-ult-01[data-state="alarm"]')
    await alarmed.wait_for(timeout=60_000)
    text = await alarmed.inner_text()
    assert "ALARM" in text and "unacknowledged" in text, text
    assert await values_of(alarmed) != first, text  # the cabinet warmed, on the same page
    assert await page.evaluate("window.stillThisPage === true")  # never reloaded
    await no_serious_violations(page)

    await page.goto(demo.url + "overview")
    await page.get_by_role("heading", name="Site overview").wait_for()
    await no_serious_violations(page)


async def test_the_wall_screen_keeps_its_session_with_a_viewer_token(
    browser: Any, demo: Demo
) -> None:
    made = await asyncio.to_thread(
        cli,
        *("user", "token-add", "wall screen", "-c", str(demo.folder / "coldwatch.yaml")),
        *("--role", "viewer", "--reason", "the freezer room's wall screen"),
    )
    token = made.strip().splitlines()[-1]
    context = await browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = await context.new_page()
        await page.goto(f"{demo.url}kiosk/enter?token={token}")
        assert page.url == demo.url + "kiosk"  # the token is out of the address bar
        await page.get_by_text("Live: values update by themselves.").wait_for()
        assert await page.locator("nav").count() == 0
        await page.reload()  # the cookie keeps it signed in
        assert page.url == demo.url + "kiosk"
        await page.locator("#tile-ult-01").wait_for()
        await no_serious_violations(page)
    finally:
        await context.close()
