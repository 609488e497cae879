"""The equipment page in a real browser against a real ``coldwatch run``: after an excursion of
the simulated freezer (its Modbus controller serves a warm cabinet until the ``warm`` alarm is
raised, then -80 C again), a technician opens /equipment/freezer-07 and sees the chart drawn
(uPlot's canvas has pixels), the alarm period shaded (a labelled band over the chart) and
listed in text, the range buttons redraw it from raw readings, and axe-core finds nothing
serious on the page."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.support.browser import (
    CABINET,
    CABINET_TENTHS,
    TECH,
    TECH_PASSWORD,
    Console,
    axe_violations,
    sign_in,
)
from tests.support.modbus_server import encode

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]

WARM_TENTHS = -620  # past the warm rule's high limit (-65 C)
CHART_API = "api/equipment/freezer-07/chart?range=1h"
APPEAR_WITHIN = 30.0

#: Whether the chart's canvas has anything drawn on it (some pixel not transparent).
CANVAS_DRAWN = """() => {
  const c = document.querySelector('#chart canvas');
  if (!c || !c.width || !c.height) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
  return false;
}"""


async def wait_for_alarm_period(page: Any, console: Console) -> dict[str, Any]:
    """Ask the chart API (as the signed-in page) until it lists an alarm period (bounded)."""
    deadline = time.monotonic() + APPEAR_WITHIN
    while True:
        answer = await page.request.get(console.url + CHART_API)
        assert answer.ok, await answer.text()
        body: dict[str, Any] = await answer.json()
        if body["alarms"]:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.5)


async def test_the_equipment_page_shows_the_excursion_and_its_alarm_period(
    console: Console, page: Any
) -> None:
    await sign_in(page, console.url, TECH, TECH_PASSWORD)
    await asyncio.to_thread(console.modbus.write_holding, CABINET, encode(WARM_TENTHS, "int32"))
    body = await wait_for_alarm_period(page, console)
    await asyncio.to_thread(console.modbus.write_holding, CABINET, encode(CABINET_TENTHS, "int32"))
    (channel,) = [c for c in body["channels"] if c["id"] == "freezer-07.cabinet_temp"]
    assert -62.0 in channel["points"]["v"]  # the excursion is in the data

    response = await page.goto(console.url + "equipment/freezer-07")
    assert response is not None and response.ok
    band = page.locator("#chart .alarm-band")
    await band.first.wait_for(state="attached")
    assert "⚠" in await band.first.inner_text()  # labelled, not colour alone
    assert await page.evaluate(CANVAS_DRAWN)
    status = page.locator("#chart-status")
    assert "1 alarm period(s)" in await status.inner_text() or "alarm period" in (
        await status.inner_text()
    )
    listed = page.locator("#chart-alarms li.alarm-period")
    assert await listed.count() >= 1
    assert "high" in await listed.first.inner_text()

    await page.get_by_role("button", name="1h").click()  # the last hour: every reading
    await page.wait_for_function(
        "() => document.querySelector('#chart-status').textContent.includes('every reading')"
    )
    assert await page.get_by_role("button", name="1h").get_attribute("aria-pressed") == "true"
    await page.locator("#chart .alarm-band").first.wait_for(state="attached")
    assert await page.evaluate(CANVAS_DRAWN)

    before = await status.inner_text()
    await page.get_by_role("button", name="◀ Earlier").click()  # a window by span and end
    await page.wait_for_function(
        "(before) => { const t = document.querySelector('#chart-status').textContent;"
        " return t !== before && t.startsWith('Showing'); }",
        arg=before,
    )
    assert "could not be loaded" not in await status.inner_text()

    violations = await axe_violations(page)
    assert violations == [], f"{page.url}: {violations}"
