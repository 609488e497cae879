"""The issue's flow end to end in a real browser against a real ``coldwatch run``: a technician
signs in, the freezer's controller starts serving a warm cabinet, the ``warm`` alarm appears on
/alarms after its on-delay, she acknowledges it through the e-signature dialog (a meaning from
the closed list, a comment, user id and password at the first signing) and sees the signed
entry with its manifestation (printed name, UTC and site time, meaning); then a QA reviewer
finds that signed acknowledgement on the audit trail page and signs out. axe-core checks the
alarm list, the alarm's page with its dialog open, and the audit page on the way."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from tests.support.browser import (
    CABINET,
    QA,
    QA_NAME,
    QA_PASSWORD,
    TECH,
    TECH_NAME,
    TECH_PASSWORD,
    Console,
    axe_violations,
    sign_in,
)
from tests.support.modbus_server import encode

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]

#: -62.0 C: past the template's ``warm`` high limit (-65 C), short of high-high (-60 C).
WARM_TENTHS = -620
MEANING = "Acknowledged: I have read the alarm and act on it"
COMMENT = "Door found ajar, closed it; watching the cabinet recover"
#: The manifestation (21 CFR 11.50) as the alarm and audit pages show it; the site's zone is
#: Europe/Berlin (config/example.yaml).
MANIFESTATION = re.compile(
    rf"Signed by {TECH_NAME} on \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC "
    rf"\(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d CES?T\): {re.escape(MEANING)}"
)
#: How long the alarm may take to show: the on-delay (2 s) plus polls and commits.
APPEAR_WITHIN = 30.0


async def no_serious_violations(page: Any) -> None:
    violations = await axe_violations(page)
    assert violations == [], f"{page.url}: {violations}"


async def wait_for_warm_alarm(page: Any, console: Console) -> Any:
    """Reload /alarms until the freezer's warm alarm is listed (bounded); its list item."""
    deadline = time.monotonic() + APPEAR_WITHIN
    while True:
        await page.goto(console.url + "alarms")
        item = page.locator("li.alarm").filter(has_text="cabinet warm")
        if await item.count() > 0:
            return item.first
        assert time.monotonic() < deadline, await page.locator("main").inner_text()
        await asyncio.sleep(0.5)


async def test_a_technician_acknowledges_with_an_e_signature_and_qa_finds_it_in_the_audit_trail(
    console: Console, page: Any
) -> None:
    await sign_in(page, console.url, TECH, TECH_PASSWORD)
    assert page.url == console.url
    await asyncio.to_thread(console.modbus.write_holding, CABINET, encode(WARM_TENTHS, "int32"))

    item = await wait_for_warm_alarm(page, console)
    text = await item.inner_text()
    assert "not acknowledged" in text and "-62" in text, text
    await no_serious_violations(page)  # /alarms with an alarm on it

    async with page.expect_navigation():
        await item.get_by_role("link").first.click()
    code = page.url.rsplit("/", 1)[-1]
    assert await page.get_by_role("heading", name=f"Alarm {code}", exact=True).is_visible()
    await page.get_by_text("Acknowledge (e-signature)").click()  # opens the dialog
    await no_serious_violations(page)  # the alarm's page, its signing dialog open

    dialog = page.locator("form", has=page.get_by_role("heading", name=f"Acknowledge {code}: sign"))
    await dialog.get_by_role("radio", name=MEANING).check()
    await dialog.get_by_label("Comment").fill(COMMENT)
    await dialog.get_by_label("User id").fill(TECH)  # the first signing of this session
    await dialog.get_by_label("Password").fill(TECH_PASSWORD)
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Sign: Acknowledge").click()
    assert page.url.endswith(f"/alarms/{code}"), page.url

    signed = page.locator("table tbody tr").filter(has_text=COMMENT)
    assert await signed.count() == 1, await page.locator("table").inner_text()
    row = await signed.inner_text()
    assert TECH_NAME in row or TECH in row, row
    assert MANIFESTATION.search(await signed.locator(".signature").inner_text()), row
    assert "acknowledged" in await page.locator("p.alarm-head").inner_text()
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign out").click()

    await sign_in(page, console.url, QA, QA_PASSWORD)
    who = await page.get_by_role("navigation", name="Account").inner_text()
    assert f"{QA_NAME} (qa)" in who, who
    response = await page.goto(console.url + "audit?action=alarm.")
    assert response is not None and response.ok
    entry = page.locator("li.entry").filter(has_text=COMMENT)
    assert await entry.count() == 1, await page.locator("main").inner_text()
    found = await entry.inner_text()
    assert code in found and TECH in found, found
    assert MANIFESTATION.search(await entry.locator("dd.signature").inner_text()), found
    await no_serious_violations(page)  # /audit as QA

    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign out").click()
    assert page.url == console.url + "signin"
    await page.goto(console.url + "audit")
    assert page.url.startswith(console.url + "signin")
